"""Reconcile: every claim with a result becomes COMPLETE, FAILED or PENDING again; one write; archives; events."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

from .helpers import age, events, ls, monitor_events, read, statuses, write, write_result

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def test_complete_result_folds_archives_and_logs(one_wizard):
    s = one_wizard
    s.dispatch()
    house = s.house()
    write_result(house, "TASK-001")
    rep = s.monitor()
    assert rep.out == ["ezra: TASK-001 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE"]
    assert rep.exit_code == 0 and rep.writes == 1
    assert statuses(s.qpath) == {"TASK-001": "COMPLETE", "TASK-002": "IN_PROGRESS", "TASK-003": "IN_PROGRESS"}
    assert ls(house / "work" / "archive") == ["TASK-001.1.active"]
    assert ls(house / "completed" / "archive") == ["TASK-001.1.json", "TASK-001.1.txt"]
    assert "TASK-001.active" not in ls(house / "work")
    assert [n for n in ls(house / "completed") if n != "archive"] == []
    (ev,) = monitor_events(house)
    assert (ev["task"], ev["from"], ev["to"], ev["attempt"], ev["event"]) == ("TASK-001", "IN_PROGRESS", "COMPLETE", 1,
                                                                                "result")
    assert ev["by"].startswith("monitor:") and ev["archived"] == ["work/archive/TASK-001.1.active",
                                                                  "completed/archive/TASK-001.1.txt",
                                                                  "completed/archive/TASK-001.1.json"]
    # The list-style checkbox and the rest of the file are the queue writer's business; a
    # second run finds nothing to do.
    again = s.monitor()
    assert again.out == [] and again.writes == 0


def test_all_changes_of_a_run_are_one_write(one_wizard):
    s = one_wizard
    s.dispatch()
    house = s.house()
    write_result(house, "TASK-001")
    write_result(house, "TASK-002", "FAILED", error="timed out after 30 s", exit_code=None)
    write_result(house, "TASK-003", "RETRY", error="rate-limited", exit_code=75)
    ino = os.stat(s.qpath).st_ino
    rep = s.monitor()
    assert rep.writes == 1 and os.stat(s.qpath).st_ino != ino
    assert statuses(s.qpath) == {"TASK-001": "COMPLETE", "TASK-002": "PENDING", "TASK-003": "PENDING"}
    assert len(monitor_events(house)) == 3


def test_failed_with_attempts_left_goes_back_to_pending_then_fails_after_max_attempts(one_wizard):
    s = one_wizard
    house = s.house()
    for attempt in (1, 2, 3):
        s.dispatch(["ezra"])
        claim = json.loads(read(house / "work" / "TASK-001.active"))
        assert claim["attempt"] == attempt
        write_result(house, "TASK-001", "FAILED", attempt=attempt, error="exit code 2", exit_code=2)
        for tid in ("TASK-002", "TASK-003"):
            if os.path.exists(house / "work" / f"{tid}.active") and not os.path.exists(house / "completed" / f"{tid}.json"):
                write_result(house, tid)
        out = s.monitor().out
        line = [x for x in out if "TASK-001" in x][0]
        if attempt < 3:
            assert line.startswith("ezra: TASK-001 IN_PROGRESS -> PENDING (attempt %d)" % attempt)
            assert statuses(s.qpath)["TASK-001"] == "PENDING"
        else:
            assert line.startswith("ezra: TASK-001 IN_PROGRESS -> FAILED (attempt 3)")
            assert "no attempts left" in line and "exit code 2" in line
            assert statuses(s.qpath)["TASK-001"] == "FAILED"
    assert ls(house / "work" / "archive")[:3] == ["TASK-001.1.active", "TASK-001.2.active", "TASK-001.3.active"]
    assert {f"TASK-001.{k}.json" for k in (1, 2, 3)} <= set(ls(house / "completed" / "archive"))
    final = [e for e in monitor_events(house) if e["task"] == "TASK-001"]
    assert [(e["to"], e["event"]) for e in final] == [("PENDING", "retry"), ("PENDING", "retry"), ("FAILED", "result")]
    assert "exit code 2" in final[-1]["detail"]
    assert s.dispatch(["ezra"]).claims == []  # a FAILED task is not dispatched again


def test_retry_asked_by_the_agent_counts_no_failure(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    write_result(house, "TASK-001", "RETRY", error="exited with code 75 (rate-limited)", exit_code=75)
    assert "no failure counted" in s.monitor().out[0]
    for attempt in (2, 3):
        s.dispatch()
        write_result(house, "TASK-001", "FAILED", attempt=attempt, error="boom", exit_code=1)
        s.monitor()
    # Attempts 2 and 3 failed, attempt 1 asked to retry: two failures of three, so it runs again.
    assert statuses(s.qpath)["TASK-001"] == "PENDING"


def test_bare_txt_counts_as_complete_after_the_grace(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    write(house / "completed" / "TASK-002.txt", "an external agent's answer\n")
    assert s.monitor().out == []  # just written: maybe half-way
    assert statuses(s.qpath)["TASK-002"] == "IN_PROGRESS"
    rep = s.monitor(now=now() + dt.timedelta(seconds=6))
    assert rep.out == ["ezra: TASK-002 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE (a bare .txt)"]
    assert ls(house / "completed" / "archive") == ["TASK-002.1.txt"]


def test_claim_whose_repair_was_pending_still_folds(one_wizard):
    """A dispatcher died between claim and mark: the claim exists, the queue says PENDING."""
    s = one_wizard
    house = s.house()
    s.dispatch()
    # The crash: the claims never learned that the queue said IN_PROGRESS (no "marked_at"),
    # and the queue still says PENDING. (A marked claim whose task says PENDING is a person's
    # cancel instead, tested in tests/monitor/test_cancel.py.)
    for name in os.listdir(house / "work"):
        if name.endswith(".active"):
            path = os.path.join(house / "work", name)
            with open(path) as f:
                rec = json.load(f)
            rec.pop("marked_at", None)
            with open(path, "w") as f:
                json.dump(rec, f)
    text = read(s.qpath).replace("IN_PROGRESS", "PENDING")
    write(s.qpath, text)
    write_result(house, "TASK-003")
    rep = s.monitor()
    assert rep.out == ["ezra: TASK-003 PENDING -> COMPLETE (attempt 1): result COMPLETE"]
    assert statuses(s.qpath)["TASK-003"] == "COMPLETE"


def test_result_lands_on_its_task_after_a_person_edits_the_file(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    text = read(s.qpath)
    # Move TASK-002 to the top, retitle it, add notes and a new task around it.
    block = text[text.index("### TASK-002"):text.index("### TASK-003")]
    text = text.replace(block, "")
    text = text.replace("# Queue\n\n", "# Queue\n\nSome notes.\n\n" + block.replace("Task 2", "Task two, renamed")
                        + "### TASK-009: New\n- Status: BLOCKED\n\n")
    write(s.qpath, text)
    write_result(house, "TASK-002")
    s.monitor()
    st = statuses(s.qpath)
    assert st == {"TASK-002": "COMPLETE", "TASK-009": "BLOCKED", "TASK-001": "IN_PROGRESS", "TASK-003": "IN_PROGRESS"}
    assert "Task two, renamed" in read(s.qpath) and "Some notes." in read(s.qpath)


def test_result_of_a_deleted_task_is_archived_and_reported(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    text = read(s.qpath)
    write(s.qpath, text[:text.index("### TASK-003")])
    write_result(house, "TASK-003")
    before = read(s.qpath)
    # Just after the edit it may come back (a person moving it, a save half way): kept.
    rep = s.monitor()
    assert rep.out[0].startswith("ezra: TASK-003 kept (attempt 1): it is not in the queue now")
    assert "TASK-003.txt" in ls(house / "completed") and "TASK-003.active" in ls(house / "work")
    old = time.time() - 3600
    os.utime(s.qpath, (old, old))
    rep = s.monitor()
    assert len(rep.out) == 1 and rep.out[0].startswith("ezra: TASK-003 vanished (attempt 1): the task is no longer")
    assert rep.exit_code == 0 and read(s.qpath) == before
    assert ls(house / "completed" / "archive") == ["TASK-003.1.json", "TASK-003.1.txt"]
    assert "TASK-003.1.active" in ls(house / "work" / "archive")
    assert monitor_events(house)[-1]["event"] == "vanished"


def test_task_a_person_blocked_keeps_its_status_but_the_result_is_archived(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    write(s.qpath, read(s.qpath).replace("### TASK-001: Task 1\n- Priority: P1\n- Status: IN_PROGRESS",
                                         "### TASK-001: Task 1\n- Priority: P1\n- Status: BLOCKED"))
    write_result(house, "TASK-001")
    rep = s.monitor()
    assert rep.out[0].startswith("ezra: TASK-001 left (attempt 1): the queue says BLOCKED")
    assert statuses(s.qpath)["TASK-001"] == "BLOCKED"
    assert "TASK-001.1.txt" in ls(house / "completed" / "archive")


def test_results_of_two_wizards_sharing_a_queue_are_one_write(tmp_path):
    from .conftest import Setup
    from .helpers import queue_text, write_fleet

    fleet = write_fleet(tmp_path, {"ezra": {"queue": "WORK-QUEUE.md", "max_active": 5},
                                   "allegro": {"queue": "WORK-QUEUE.md", "max_active": 5}},
                        extra="routes:\n  - match: {id: ['TASK-00[1-3]']}\n    wizard: ezra\n", default="allegro")
    qpath = write(tmp_path / "WORK-QUEUE.md", queue_text(6))
    s = Setup(tmp_path, fleet, qpath)
    s.dispatch()
    for tid in ("TASK-001", "TASK-002"):
        write_result(tmp_path / "ezra", tid)
    for tid in ("TASK-004", "TASK-005", "TASK-006"):
        write_result(tmp_path / "allegro", tid)
    ino = os.stat(qpath).st_ino
    rep = s.monitor()
    assert rep.writes == 1 and os.stat(qpath).st_ino != ino
    assert statuses(qpath) == {"TASK-001": "COMPLETE", "TASK-002": "COMPLETE", "TASK-003": "IN_PROGRESS",
                               "TASK-004": "COMPLETE", "TASK-005": "COMPLETE", "TASK-006": "COMPLETE"}
    assert sorted(x.split(":")[0] for x in rep.out) == ["allegro"] * 3 + ["ezra"] * 2
    # --wizard: only that wizard's house
    write_result(tmp_path / "ezra", "TASK-003")
    assert s.monitor(["allegro"]).out == []
    assert s.monitor(["ezra"]).out[0].startswith("ezra: TASK-003 IN_PROGRESS -> COMPLETE")


def test_a_running_dispatch_makes_the_wizard_busy_not_an_error(one_wizard):
    import fcntl

    s = one_wizard
    s.dispatch()
    write_result(s.house(), "TASK-001")
    path = s.house() / "logs" / "dispatch.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        rep = s.monitor(lock_timeout=0.2)
    finally:
        os.close(fd)
    assert rep.busy == ["ezra"] and rep.out == [] and rep.exit_code == 0
    assert "busy" in rep.err[0]
    assert statuses(s.qpath)["TASK-001"] == "IN_PROGRESS"
    assert s.monitor().out[0].endswith("COMPLETE (attempt 1): result COMPLETE")


def test_unwritable_queue_is_an_error_and_nothing_is_archived(one_wizard):
    s = one_wizard
    s.dispatch()
    write_result(s.house(), "TASK-001")
    os.chmod(s.house(), 0o500)  # the queue's folder: no temp file, no lock file change
    try:
        if os.access(s.house(), os.W_OK):  # running as root: take the file's place away instead
            os.chmod(s.house(), 0o700)
            os.rename(s.qpath, str(s.qpath) + ".away")
            os.mkdir(s.qpath)
        rep = s.monitor()
    finally:
        os.chmod(s.house(), 0o700)
    assert rep.exit_code == 1 and rep.errors
    assert "TASK-001.active" in ls(s.house() / "work")
    assert ls(s.house() / "completed") == ["TASK-001.json", "TASK-001.txt"]
    assert events(s.house()) and not monitor_events(s.house())


def test_age_helper_sets_mtime(tmp_path):
    p = write(tmp_path / "f", "x")
    t = now()
    age(p, t, 30)
    assert abs(os.stat(p).st_mtime - (t.timestamp() - 30)) < 0.01


def test_a_claim_naming_a_file_outside_the_fleet_never_gets_it_written(one_wizard, tmp_path):
    s = one_wizard
    s.dispatch()
    other = write(tmp_path / "elsewhere" / "WORK-QUEUE.md", "### TASK-001: Not robe's\n- Status: IN_PROGRESS\n")
    claim = s.house() / "work" / "TASK-001.active"
    rec = json.loads(read(claim))
    rec["queue"] = other
    write(claim, json.dumps(rec))
    write_result(s.house(), "TASK-001")
    s.monitor()
    assert read(other) == "### TASK-001: Not robe's\n- Status: IN_PROGRESS\n"
    assert statuses(s.qpath)["TASK-001"] == "COMPLETE"
