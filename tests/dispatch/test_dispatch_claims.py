"""The claim file as docs/contracts.md fixes it; repair, re-run, and a person's change mid-claim."""

from __future__ import annotations

import json
import os
import stat

from .dispatch_helpers import claims_in, events, read, write, write_fleet

from robe.house import House
from robe.queue import load

QUEUE = """
## P0 — Critical

### TASK-004: Rotate the gateway logs
- Status: PENDING

the task's body
as written

## Later

- [ ] TASK-005 P1 PENDING Second task
"""


def create_claim(work, record) -> bool:
    """Make a claim in the house whose work/ folder is ``work``, as the dispatcher does."""
    return House(os.path.dirname(str(work))).create_claim(record)


def setup(tmp_path, **settings):
    settings.setdefault("max_active", 5)
    path = write_fleet(tmp_path, {"ezra": settings})
    write(tmp_path / "ezra" / "WORK-QUEUE.md", QUEUE)
    return path


def status_of(tmp_path, tid):
    return load(str(tmp_path / "ezra" / "WORK-QUEUE.md")).get(tid).status.value


def test_claim_content_mode_and_event(tmp_path, dispatch_run):
    path = setup(tmp_path, lease=900)
    run = dispatch_run(path, max_claims=1)
    assert run.out == ["ezra: dispatched TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:3"]
    claim = tmp_path / "ezra" / "work" / "TASK-004.active"
    assert stat.S_IMODE(os.stat(claim).st_mode) == 0o600
    rec = json.loads(read(claim))
    assert list(rec) == ["id", "title", "priority", "body", "prompt", "wizard", "attempt", "claimed_at",
                         "claimed_by", "lease_s", "queue", "marked_at"]
    assert rec["id"] == "TASK-004" and rec["title"] == "Rotate the gateway logs" and rec["priority"] == "P0"
    assert rec["body"] == "the task's body\nas written"
    assert rec["prompt"] == "TASK-004: Rotate the gateway logs\n\nthe task's body\nas written"
    assert (rec["wizard"], rec["attempt"], rec["lease_s"]) == ("ezra", 1, 900)
    assert rec["claimed_by"] == f"{os.uname().nodename}:{os.getpid()}"
    assert rec["claimed_at"].endswith("Z") and len(rec["claimed_at"]) == 24
    assert rec["queue"] == os.path.realpath(tmp_path / "ezra" / "WORK-QUEUE.md")
    assert os.listdir(tmp_path / "ezra" / "work") == ["TASK-004.active"]  # no temp file left
    assert status_of(tmp_path, "TASK-004") == "IN_PROGRESS"
    (ev,) = events(tmp_path / "ezra")
    assert {k: ev[k] for k in ("task", "from", "to", "attempt", "event", "wizard")} == {
        "task": "TASK-004", "from": "PENDING", "to": "IN_PROGRESS", "attempt": 1, "event": "dispatch",
        "wizard": "ezra"}
    assert ev["by"] == f"dispatcher:{os.uname().nodename}:{os.getpid()}"


def test_create_claim_is_exclusive(tmp_path):
    house = House(str(tmp_path))
    assert house.create_claim({"id": "TASK-001", "n": 1}) is True
    assert house.create_claim({"id": "TASK-001", "n": 2}) is False
    assert json.loads(read(tmp_path / "work" / "TASK-001.active"))["n"] == 1
    assert sorted(os.listdir(tmp_path / "work")) == ["TASK-001.active"]


def test_crash_between_claim_and_mark_is_repaired_not_claimed_again(tmp_path, dispatch_run):
    path = setup(tmp_path)
    work = tmp_path / "ezra" / "work"
    os.makedirs(work)
    # What a dispatcher killed after the link and before the queue write leaves behind.
    create_claim(str(work), {"id": "TASK-004", "attempt": 1, "queue": str(tmp_path / "ezra" / "WORK-QUEUE.md")})
    run = dispatch_run(path, max_claims=0)
    assert run.out == []
    assert "ezra: repaired TASK-004: its claim exists but the queue said PENDING; set back to IN_PROGRESS" in run.err
    assert run.report.wizards[0].repaired == ["TASK-004"]
    assert status_of(tmp_path, "TASK-004") == "IN_PROGRESS"
    assert status_of(tmp_path, "TASK-005") == "PENDING"
    assert [e["event"] for e in events(tmp_path / "ezra")] == ["repair"]
    assert json.loads(read(work / "TASK-004.active"))["attempt"] == 1  # untouched


def test_a_save_that_says_pending_again_cancels_and_nothing_is_dispatched_twice(tmp_path, dispatch_run):
    """Once dispatch marked a task IN_PROGRESS, a PENDING saved over it is the person's word (a
    cancel, issue 16), even from an editor's stale buffer: the claim is not repaired, and the
    task is not claimed again while its claim stands."""
    from robe.monitor import monitor
    from robe.fleet import load_fleet

    path = setup(tmp_path)
    qpath = tmp_path / "ezra" / "WORK-QUEUE.md"
    stale = read(qpath)  # the person's editor buffer, opened before the dispatch
    assert len(dispatch_run(path).report.claims) == 2
    assert all(json.loads(read(tmp_path / "ezra" / "work" / f"{t}.active")).get("marked_at")
               for t in ("TASK-004", "TASK-005"))
    with open(qpath, "w") as f:
        f.write(stale + "\n- [ ] TASK-006 P1 PENDING added in the same save\n")
    run = dispatch_run(path)
    assert run.out == ["ezra: dispatched TASK-006 (P1) attempt 1 from ezra/WORK-QUEUE.md:13"]
    assert run.report.wizards[0].repaired == []
    assert claims_in(tmp_path / "ezra") == ["TASK-004", "TASK-005", "TASK-006"]
    statuses = {t.id: t.status.value for t in load(str(qpath)).tasks}
    assert statuses == {"TASK-004": "PENDING", "TASK-005": "PENDING", "TASK-006": "IN_PROGRESS"}
    assert "added in the same save" in read(qpath)
    # No executor runs them: the monitor releases the two claims, the status stays PENDING ...
    report = monitor(load_fleet(path), queues=None)
    assert sorted(t.task for t in report.transitions if t.kind == "cancelled") == ["TASK-004", "TASK-005"]
    assert claims_in(tmp_path / "ezra") == ["TASK-006"]
    # ... and the next dispatch runs them again, as attempt 2
    run = dispatch_run(path)
    assert sorted(run.out) == ["ezra: dispatched TASK-004 (P0) attempt 2 from ezra/WORK-QUEUE.md:3",
                              "ezra: dispatched TASK-005 (P1) attempt 2 from ezra/WORK-QUEUE.md:11"]


def test_rerun_archives_the_old_result_and_counts_the_attempt(tmp_path, dispatch_run):
    path = setup(tmp_path)
    house = tmp_path / "ezra"
    # What the monitor leaves after attempt 2 of TASK-004 finished: archived claims, a result.
    write(house / "work" / "archive" / "TASK-004.1.active", "{}")
    write(house / "work" / "archive" / "TASK-004.2.active", "{}")
    write(house / "completed" / "TASK-004.txt", "old answer\n")
    write(house / "completed" / "TASK-004.json", json.dumps({"id": "TASK-004", "attempt": 2, "status": "COMPLETE"}))
    run = dispatch_run(path, max_claims=1)  # the person set it back to PENDING: a re-run
    assert run.out == ["ezra: dispatched TASK-004 (P0) attempt 3 from ezra/WORK-QUEUE.md:3"]
    assert run.report.claims[0].rerun
    assert sorted(os.listdir(house / "completed")) == ["archive"]
    assert read(house / "completed" / "archive" / "TASK-004.2.txt") == "old answer\n"
    assert json.loads(read(house / "completed" / "archive" / "TASK-004.2.json"))["attempt"] == 2
    assert json.loads(read(house / "work" / "TASK-004.active"))["attempt"] == 3
    assert [e["event"] for e in events(house)] == ["rerun", "dispatch"]


def test_rerun_never_overwrites_an_archive(tmp_path, dispatch_run):
    path = setup(tmp_path)
    house = tmp_path / "ezra"
    write(house / "completed" / "archive" / "TASK-004.1.txt", "kept\n")
    write(house / "completed" / "TASK-004.txt", "bare answer from an external agent\n")
    assert dispatch_run(path, max_claims=1).out == [
        "ezra: dispatched TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:3"]
    assert read(house / "completed" / "archive" / "TASK-004.1.txt") == "kept\n"
    assert read(house / "completed" / "archive" / "TASK-004.1.1.txt") == "bare answer from an external agent\n"


def _edit_after_claim(monkeypatch, qpath, old, new):
    real = House.create_claim

    def claim_then_person_edits(self, record, **kw):
        made = real(self, record, **kw)
        text = read(qpath)
        with open(qpath, "w") as f:
            f.write(text.replace(old, new))
        return made
    monkeypatch.setattr(House, "create_claim", claim_then_person_edits)


def test_a_person_blocking_the_task_mid_claim_wins(tmp_path, dispatch_run, monkeypatch):
    path = setup(tmp_path)
    qpath = tmp_path / "ezra" / "WORK-QUEUE.md"
    _edit_after_claim(monkeypatch, qpath, "- Status: PENDING", "- Status: BLOCKED")
    run = dispatch_run(path, max_claims=1)
    assert run.out == []
    assert run.err == ["ezra: withdrew the claim on TASK-004: TASK-004 is BLOCKED now, not PENDING; nothing was changed"]
    assert claims_in(tmp_path / "ezra") == []
    assert status_of(tmp_path, "TASK-004") == "BLOCKED"
    assert [e["event"] for e in events(tmp_path / "ezra")] == ["dispatch", "withdrawn"]  # claimed, then given back


def test_a_claim_already_marked_in_progress_stands(tmp_path, dispatch_run, monkeypatch):
    path = setup(tmp_path)
    qpath = tmp_path / "ezra" / "WORK-QUEUE.md"
    _edit_after_claim(monkeypatch, qpath, "- Status: PENDING", "- Status: IN_PROGRESS")
    run = dispatch_run(path, max_claims=1)
    assert run.out == ["ezra: dispatched TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:3"]
    assert claims_in(tmp_path / "ezra") == ["TASK-004"]


def test_dry_run_writes_nothing(tmp_path, dispatch_run):
    path = setup(tmp_path)
    house = tmp_path / "ezra"
    os.makedirs(house / "work")
    create_claim(str(house / "work"), {"id": "TASK-005"})
    before = read(house / "WORK-QUEUE.md")
    listing = sorted(os.listdir(house))
    run = dispatch_run(path, dry_run=True)
    assert run.out == ["ezra: would dispatch TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:3"]
    assert "ezra: would repair TASK-005: it has a claim but the queue says PENDING" in run.err
    assert read(house / "WORK-QUEUE.md") == before
    assert sorted(os.listdir(house)) == listing and claims_in(house) == ["TASK-005"]


def test_leftover_temp_files_are_swept_and_never_count(tmp_path, dispatch_run):
    path = setup(tmp_path)
    tmp = write(tmp_path / "ezra" / "work" / ".TASK-004.active.999999.tmp", "{half")
    os.utime(tmp, (1, 1))
    assert len(dispatch_run(path).report.claims) == 2
    assert not os.path.exists(tmp)


def test_two_wizards_that_read_different_routings_never_both_keep_a_task(tmp_path, dispatch_run, monkeypatch):
    # Another run read the file before a person moved the task from ezra to allegro: it claimed
    # for ezra and marked the task IN_PROGRESS while this run was claiming it for allegro.
    wizards = {n: {"queue": "WORK-QUEUE.md", "max_active": 5} for n in ("ezra", "allegro")}
    path = write_fleet(tmp_path, wizards, default="allegro")
    qpath = write(tmp_path / "WORK-QUEUE.md", "- [ ] TASK-001 P1 PENDING moved\n")
    real = House.create_claim

    def meanwhile(self, record, **kw):
        made = real(self, record, **kw)
        real(House(str(tmp_path / "ezra")), dict(record, wizard="ezra"))
        with open(qpath, "w") as f:
            f.write("- [ ] TASK-001 P1 IN_PROGRESS moved\n")
        return made
    monkeypatch.setattr(House, "create_claim", meanwhile)
    run = dispatch_run(path, ["allegro"])
    assert run.out == []
    assert claims_in(tmp_path / "allegro") == [] and claims_in(tmp_path / "ezra") == ["TASK-001"]
    assert run.report.wizards[0].withdrawn == ["TASK-001"]
