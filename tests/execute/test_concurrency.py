"""Many claims, several executors, dropped events: each claim runs exactly once, none is lost."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from robe.execute import Executor, Options

from .conftest import agent_script, drop_claim, executor_cmd, outcome, wait_for

RECORD = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, f"{os.environ['ROBE_TASK_ID']} {os.getppid()}\\n".encode())
os.close(fd)
time.sleep(float(sys.argv[2]))
print("done", os.environ["ROBE_TASK_ID"])
"""


def run_in_thread(executor: Executor) -> threading.Thread:
    t = threading.Thread(target=executor.run, daemon=True)
    t.start()
    return t


def test_two_executors_on_one_wizard_run_each_claim_once(make_fleet, tmp_path, procs):
    script = agent_script(tmp_path, "record.py", RECORD)
    runs = tmp_path / "runs.log"
    fleet = make_fleet(ezra={"max_parallel": 2, "agent": {"kind": "command",
                                                          "argv": [sys.executable, script, str(runs), "0.05"]}})
    w = fleet.wizard("ezra")
    cmd = executor_cmd(fleet, "--wizard", "ezra", "--scan-interval", "0.3", "--heartbeat-interval", "0.5", "-q")
    a, b = procs(cmd), procs(cmd)
    # Both are watching before the claims come.
    assert wait_for(lambda: os.path.exists(w.executor_file), 10)
    time.sleep(1.0)
    ids = [f"TASK-{i:03d}" for i in range(40)]
    for task_id in ids:
        drop_claim(w, task_id)
    assert wait_for(lambda: all(outcome(w, i) for i in ids), 60), "not every claim got a result"
    lines = runs.read_text().split()
    ran = lines[0::2]
    assert sorted(ran) == sorted(ids), "a claim ran twice or never"
    runners = set(lines[1::2])
    assert all(outcome(w, i)["status"] == "COMPLETE" for i in ids)
    # Both executors took part (not a test that passes because one of them never started).
    assert a.poll() is None and b.poll() is None
    assert len(runners) == 2, f"only {runners} ran claims"


def test_a_thousand_claims_at_once_all_run(make_fleet):
    true = shutil.which("true")
    fleet = make_fleet(ezra={"max_parallel": 2, "agent": {"kind": "command", "argv": [true]}})
    w = fleet.wizard("ezra")
    ex = Executor([w], Options(scan_interval=0.5, heartbeat_interval=1.0, grace=0.5, shutdown_grace=2.0))
    t = run_in_thread(ex)
    assert wait_for(lambda: ex._observer is not None, 5)
    ids = [f"LOAD-{i}" for i in range(1000)]
    start = time.monotonic()
    for task_id in ids:
        drop_claim(w, task_id, sync=False)
    completed = Path(w.house) / "completed"
    assert wait_for(lambda: len([n for n in os.listdir(completed) if n.endswith(".json")]) >= 1000, 55, 0.2), \
        f"only {len(os.listdir(completed)) // 2} of 1000 claims got a result"
    took = time.monotonic() - start
    ex.request_stop()
    t.join(10)
    assert not t.is_alive()
    assert sorted(o["id"] for o in ex.outcomes) == sorted(ids)
    assert all(outcome(w, i)["status"] == "COMPLETE" for i in ids[::97])
    print(f"1000 claims in {took:.1f} s")


def test_the_rescan_finds_claims_whose_events_were_lost(make_fleet):
    # As if inotify's queue had overflowed: no events at all, only the periodic scan.
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    ex = Executor([w], Options(scan_interval=0.3, watch=False))
    t = run_in_thread(ex)
    assert wait_for(lambda: os.path.exists(w.executor_file), 5)
    for i in range(20):
        drop_claim(w, f"TASK-{i:03d}")
    assert wait_for(lambda: all(outcome(w, f"TASK-{i:03d}") for i in range(20)), 10)
    ex.request_stop()
    t.join(10)
    assert not t.is_alive()


def test_an_event_wakes_the_executor_long_before_the_next_scan(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    ex = Executor([w], Options(scan_interval=300))
    t = run_in_thread(ex)
    assert wait_for(lambda: ex._observer is not None, 5)
    time.sleep(0.3)  # past the start-up scan
    drop_claim(w, "TASK-001")
    assert wait_for(lambda: outcome(w, "TASK-001") is not None, 2.0), "inotify did not wake the executor"
    ex.request_stop()
    t.join(10)
    assert not t.is_alive()


def test_several_wizards_in_one_executor(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}}, bezalel={"agent": {"kind": "echo"}})
    wizards = list(fleet.wizards)
    ex = Executor(wizards, Options(scan_interval=60))
    t = run_in_thread(ex)
    assert wait_for(lambda: ex._observer is not None, 5)
    for w in wizards:
        drop_claim(w, "TASK-001", f"for {w.name}")
    assert wait_for(lambda: all(outcome(w, "TASK-001") for w in wizards), 5)
    for w in wizards:
        assert outcome(w, "TASK-001")["wizard"] == w.name
        body = json.loads(Path(w.executor_file).read_text())
        assert body["pid"] == os.getpid() and body["wizards"] == ["bezalel", "ezra"]
    ex.request_stop()
    t.join(10)
    assert not t.is_alive()


def test_robe_status_sees_the_body_while_the_executor_runs(make_fleet):
    from robe.fleet.status import executor_liveness

    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    assert not executor_liveness(w).alive
    ex = Executor([w], Options(scan_interval=60, heartbeat_interval=0.2))
    t = run_in_thread(ex)
    assert wait_for(lambda: executor_liveness(w).alive, 5)
    first = json.loads(Path(w.executor_file).read_text())["heartbeat_at"]
    assert wait_for(lambda: json.loads(Path(w.executor_file).read_text())["heartbeat_at"] != first, 3)
    ex.request_stop()
    t.join(10)
    assert not executor_liveness(w).alive
