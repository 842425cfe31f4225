"""Reap (lease ran out and executor dead) and orphans (IN_PROGRESS with no claim and no result)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from freezegun import freeze_time

from .helpers import age, events, ls, monitor_events, read, stamp, statuses, write, write_result

UTC = dt.timezone.utc


def executor_file(house, pid: int, beat: dt.datetime) -> None:
    write(house / "logs" / "executor.json", json.dumps({"pid": pid, "host": os.uname().nodename,
                                                          "started_at": stamp(beat), "heartbeat_at": stamp(beat),
                                                          "wizards": ["ezra"]}))


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_claim_past_its_lease_with_a_dead_executor_is_reaped(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    t = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    for tid in ("TASK-001", "TASK-002", "TASK-003"):
        age(house / "work" / f"{tid}.active", t, 300)  # inside the 600 s lease
    age(house / "work" / "TASK-001.active", t, 601)    # past it, never a heartbeat
    write(house / "work" / "TASK-002.heartbeat", "{}")  # past it by its heartbeat too
    age(house / "work" / "TASK-002.active", t, 900)
    age(house / "work" / "TASK-002.heartbeat", t, 700)
    executor_file(house, dead_pid(), t - dt.timedelta(seconds=700))
    rep = s.monitor(now=t)
    assert sorted(x.split(" (")[0] for x in rep.out) == ["ezra: TASK-001 IN_PROGRESS -> PENDING",
                                                          "ezra: TASK-002 IN_PROGRESS -> PENDING"]
    assert "lease of 600 s ran out" in rep.out[0] and "executor is gone" in rep.out[0]
    assert statuses(s.qpath) == {"TASK-001": "PENDING", "TASK-002": "PENDING", "TASK-003": "IN_PROGRESS"}
    assert ls(house / "work" / "archive") == ["TASK-001.1.active", "TASK-002.1.active", "TASK-002.1.heartbeat"]
    assert [e["event"] for e in monitor_events(house)] == ["reap", "reap"]
    s.dispatch()
    assert json.loads(read(house / "work" / "TASK-001.active"))["attempt"] == 2


def test_a_live_heartbeat_or_a_live_executor_keeps_the_claim(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch()
    t = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    for tid in ("TASK-001", "TASK-002", "TASK-003"):
        age(house / "work" / f"{tid}.active", t, 5000)
    write(house / "work" / "TASK-001.heartbeat", "{}")
    age(house / "work" / "TASK-001.heartbeat", t, 10)  # beating
    # The executor (this test process) is alive and beat 10 s ago: nothing is reaped.
    executor_file(house, os.getpid(), t - dt.timedelta(seconds=10))
    assert s.monitor(now=t).out == []
    # The executor stops beating: the two claims without a fresh heartbeat are reaped.
    executor_file(house, os.getpid(), t - dt.timedelta(seconds=31))
    rep = s.monitor(now=t)
    assert sorted(x.split(" ")[1] for x in rep.out) == ["TASK-002", "TASK-003"]
    assert statuses(s.qpath)["TASK-001"] == "IN_PROGRESS"


def test_the_claims_own_lease_wins_over_the_wizards(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch(max_claims=1)
    claim = house / "work" / "TASK-001.active"
    rec = json.loads(read(claim))
    rec["lease_s"] = 30
    write(claim, json.dumps(rec))
    t = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    age(claim, t, 31)
    assert "lease of 30 s" in s.monitor(now=t).out[0]


def test_reaped_after_max_attempts_is_failed_with_the_reason(one_wizard):
    s = one_wizard
    house = s.house()
    t = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    for attempt in (1, 2, 3):
        s.dispatch(max_claims=1)
        age(house / "work" / "TASK-001.active", t, 601)
        out = s.monitor(now=t).out
        assert len(out) == 1 and f"(attempt {attempt})" in out[0]
    assert statuses(s.qpath)["TASK-001"] == "FAILED"
    last = monitor_events(house)[-1]
    assert last["to"] == "FAILED" and last["event"] == "reap"
    assert "lease of 600 s ran out" in last["detail"] and "3 of 3 failures: no attempts left" in last["detail"]


def test_reap_under_a_frozen_clock(one_wizard):
    """Without a passed-in time the monitor reads robe's one clock, which freezegun moves."""
    s = one_wizard
    house = s.house()
    s.dispatch(max_claims=1)
    claimed = os.stat(house / "work" / "TASK-001.active").st_mtime
    at = dt.datetime.fromtimestamp(claimed, UTC)
    with freeze_time(at + dt.timedelta(seconds=599)):
        assert s.monitor().out == []
    with freeze_time(at + dt.timedelta(seconds=602)):
        out = s.monitor().out
        ev = monitor_events(house)[-1]
    assert out and out[0].startswith("ezra: TASK-001 IN_PROGRESS -> PENDING (attempt 1): reaped")
    assert ev["ts"].startswith((at + dt.timedelta(seconds=602)).strftime("%Y-%m-%dT%H:%M:%S"))


def test_orphan_goes_back_to_pending_after_the_grace(one_wizard):
    s = one_wizard
    house = s.house()
    s.dispatch(max_claims=1)  # TASK-001 claimed; its dispatch event is the last sign of it
    os.rename(house / "work" / "TASK-001.active", house / "deleted-by-hand")
    write(s.qpath, read(s.qpath).replace("### TASK-002: Task 2\n- Priority: P1\n- Status: PENDING",
                                         "### TASK-002: Task 2\n- Priority: P1\n- Status: IN_PROGRESS"))
    t = dt.datetime.now(UTC)
    assert s.monitor(now=t + dt.timedelta(seconds=60)).out == []  # within the grace
    rep = s.monitor(now=t + dt.timedelta(seconds=200))
    assert sorted(x.split(" (")[0].split(":")[1] for x in rep.out) == [" TASK-001 IN_PROGRESS -> PENDING",
                                                                      " TASK-002 IN_PROGRESS -> PENDING"]
    assert rep.writes == 1
    assert statuses(s.qpath) == {"TASK-001": "PENDING", "TASK-002": "PENDING", "TASK-003": "PENDING"}
    assert [e["event"] for e in monitor_events(house)] == ["orphan", "orphan"]


def test_in_progress_with_a_result_but_no_claim_is_folded_not_orphaned(one_wizard):
    """A person set IN_PROGRESS and an external agent (as in the seed) wrote the answer."""
    s = one_wizard
    house = s.house()
    write(s.qpath, read(s.qpath).replace("- Status: PENDING\n\nBody 2.", "- Status: IN_PROGRESS\n\nBody 2."))
    write(house / "completed" / "TASK-002.txt", "by hand\n")
    t = dt.datetime.now(UTC) + dt.timedelta(seconds=500)
    rep = s.monitor(now=t)
    assert rep.out == ["ezra: TASK-002 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE (a bare .txt)"]
    assert ls(house / "completed" / "archive") == ["TASK-002.1.txt"]


def test_old_result_of_a_rerun_is_left_for_the_dispatcher(one_wizard):
    s = one_wizard
    house = s.house()
    write_result(house, "TASK-003")  # the queue says PENDING: a person asked for a re-run
    assert s.monitor().out == []
    assert "TASK-003.txt" in ls(house / "completed")
    assert events(house) == []


def test_reaping_kills_the_agent_its_dead_executor_left_running(one_wizard):
    from robe.plumbing import process_start_ticks

    s = one_wizard
    house = s.house()
    s.dispatch(max_claims=1)
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write(house / "work" / "TASK-001.heartbeat", json.dumps({
            "pid": dead_pid(), "host": os.uname().nodename, "started_at": "x", "agent_pid": agent.pid,
            "agent_start": process_start_ticks(agent.pid)}))
        t = dt.datetime.now(UTC) + dt.timedelta(hours=1)
        rep = s.monitor(now=t)
        assert agent.wait(timeout=10) == -9
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert rep.killed == [{"task": "TASK-001", "wizard": "ezra", "pid": agent.pid}]
    assert statuses(s.qpath)["TASK-001"] == "PENDING"
    assert "TASK-001.1.heartbeat" in ls(house / "work" / "archive")
