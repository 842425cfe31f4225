"""The executor dying or being stopped mid-task: the claim stays, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from .conftest import drop_claim, executor_cmd, outcome, pid_alive, wait_for

SLEEPER = [sys.executable, "-c", "import time; print('working', flush=True); time.sleep(60)"]


def _heartbeat(w, task_id):
    try:
        return json.loads(Path(w.house, "work", f"{task_id}.heartbeat").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_executor_killed_mid_task_leaves_the_claim_and_no_half_result(make_fleet, procs):
    fleet = make_fleet(ezra={"timeout": 4, "agent": {"kind": "command", "argv": SLEEPER}})
    w = fleet.wizard("ezra")
    ex = procs(executor_cmd(fleet, "--heartbeat-interval", "0.2", "-q"))
    drop_claim(w, "TASK-001")
    assert wait_for(lambda: (_heartbeat(w, "TASK-001") or {}).get("agent_pid"), 15)
    hb = _heartbeat(w, "TASK-001")
    assert hb["pid"] == ex.pid and hb["host"] and hb["started_at"].endswith("Z")
    agent = hb["agent_pid"]
    try:
        beat = Path(w.house, "work", "TASK-001.heartbeat")
        first = beat.stat().st_mtime_ns
        assert wait_for(lambda: beat.stat().st_mtime_ns != first, 3), "the heartbeat is not beating"
        os.kill(ex.pid, signal.SIGKILL)
        ex.wait(5)
        time.sleep(0.3)
        stopped = beat.stat().st_mtime_ns
        time.sleep(1.0)
        assert beat.stat().st_mtime_ns == stopped, "the heartbeat went on after the executor died"
        assert os.path.exists(os.path.join(w.house, "work", "TASK-001.active"))
        assert os.listdir(os.path.join(w.house, "completed")) == []
        # The body's own liveness is stale: the pid is dead, so the monitor may reap.
        body = json.loads(Path(w.executor_file).read_text())
        assert body["pid"] == ex.pid and not pid_alive(ex.pid)
        # The agent it started is still running (its own session): the next executor on this
        # host kills that leftover before it runs the claim again, so it is not paid for twice.
        assert pid_alive(agent)
        again = procs(executor_cmd(fleet, "--heartbeat-interval", "0.2", "-q"))
        assert wait_for(lambda: not pid_alive(agent), 10), "the leftover agent was not killed"
        assert wait_for(lambda: outcome(w, "TASK-001") is not None, 15)
        assert outcome(w, "TASK-001")["error"] == "timed out after 4 s"
        again.terminate()
        assert again.wait(10) == 0
    finally:
        _kill_group(agent)


def test_sigterm_stops_taking_claims_kills_the_agent_after_the_grace_and_keeps_the_claim(make_fleet, procs):
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": SLEEPER}})
    w = fleet.wizard("ezra")
    ex = procs(executor_cmd(fleet, "--heartbeat-interval", "0.2", "--shutdown-grace", "0.5", "--grace", "0.5", "-q"))
    drop_claim(w, "TASK-001")
    assert wait_for(lambda: (_heartbeat(w, "TASK-001") or {}).get("agent_pid"), 15)
    agent = _heartbeat(w, "TASK-001")["agent_pid"]
    try:
        t = time.monotonic()
        os.kill(ex.pid, signal.SIGTERM)
        assert ex.wait(10) == 0
        assert time.monotonic() - t < 5
        assert wait_for(lambda: not pid_alive(agent), 2), "the agent outlived the executor's shutdown"
        assert os.path.exists(os.path.join(w.house, "work", "TASK-001.active"))
        assert outcome(w, "TASK-001") is None
        assert os.listdir(os.path.join(w.house, "completed")) == []
        assert not os.path.exists(os.path.join(w.house, "work", "TASK-001.heartbeat"))
        assert not os.path.exists(w.executor_file)
        with open(os.path.join(w.house, "logs", "events.jsonl")) as f:
            assert json.loads(f.readlines()[-1])["step"] == "stopped"
    finally:
        _kill_group(agent)


def test_an_agent_that_finishes_within_the_shutdown_grace_still_writes_its_result(make_fleet, procs):
    argv = [sys.executable, "-c", "import time; time.sleep(1.0); print('finished')"]
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": argv}})
    w = fleet.wizard("ezra")
    ex = procs(executor_cmd(fleet, "--heartbeat-interval", "0.2", "--shutdown-grace", "10", "-q"))
    drop_claim(w, "TASK-001")
    assert wait_for(lambda: (_heartbeat(w, "TASK-001") or {}).get("agent_pid"), 15)
    os.kill(ex.pid, signal.SIGINT)
    drop_claim(w, "TASK-002")  # after the stop: not taken
    assert ex.wait(10) == 0
    assert outcome(w, "TASK-001")["status"] == "COMPLETE"
    assert outcome(w, "TASK-002") is None


def test_a_leftover_agent_is_killed_only_if_it_is_the_same_process(tmp_path, procs):
    from robe.house import House
    from robe.plumbing import host, process_start_ticks

    HOST = host()
    house = House(str(tmp_path))
    kill_leftover_agent = house.kill_leftover_agent
    sleeper = procs([sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "work").mkdir()
    beat = tmp_path / "work" / "TASK-1.heartbeat"
    start = process_start_ticks(sleeper.pid)
    for wrong in ({"host": HOST, "agent_pid": sleeper.pid, "agent_start": start + 1},   # a reused pid
                  {"host": "elsewhere", "agent_pid": sleeper.pid, "agent_start": start},  # another machine
                  {"host": HOST, "agent_pid": sleeper.pid}):                              # no start time
        beat.write_text(json.dumps(wrong))
        assert kill_leftover_agent("TASK-1") is None
        assert sleeper.poll() is None
    beat.write_text(json.dumps({"host": HOST, "agent_pid": sleeper.pid, "agent_start": start}))
    assert kill_leftover_agent("TASK-1") == sleeper.pid
    assert sleeper.wait(5) == -signal.SIGKILL
