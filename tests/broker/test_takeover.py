"""A claim whose executor fell silent past its lease is taken over (XAUTOCLAIM) and runs again
as the next attempt, within max_attempts; past them the task FAILs, and says why."""

from __future__ import annotations

import json
import os
import time

from robe.broker import Relay, this_machine_wizards
from robe.dispatch import dispatch
from robe.execute import Executor, Options
from robe.monitor import monitor
from robe.queue import load

from ..support import read
from .test_flow import join, make_pair


def silent_claim(tmp_path, redis_server, max_attempts: int):
    """TASK-1 delivered to an executor on gpu that then says nothing (as if SIGKILLed); a
    second executor there, past the lease, takes over."""
    hub = make_pair(tmp_path, redis_server, lease=1, max_attempts=max_attempts)
    assert dispatch(hub, gateway=False).exit_code == 0
    host = join(tmp_path, redis_server)
    wizards = this_machine_wizards(host)
    silent = Relay(host, wizards)
    silent.consumer = "gpu/999999999.1"  # a process that is gone
    assert silent.once() == 1
    time.sleep(1.3)
    taker = Relay(host, wizards)
    return hub, wizards, taker


def test_a_silent_claim_runs_again_as_the_next_attempt(tmp_path, redis_server):
    hub, wizards, taker = silent_claim(tmp_path, redis_server, max_attempts=3)
    assert taker.take_over() == 1
    [o] = Executor(wizards, Options(watch=False)).run(once=True)
    assert o["attempt"] == 2
    taker.finish_results()
    assert monitor(hub).exit_code == 0
    hw = hub.wizards[0]
    assert load(hw.queue).get("TASK-1").status.value == "COMPLETE"
    events = [json.loads(line) for line in read(os.path.join(hw.house, "logs", "events.jsonl")).splitlines()]
    task1 = [(e.get("event"), e["attempt"], e.get("next")) for e in events if e["task"] == "TASK-1"]
    assert ("takeover", 1, 2) in task1
    assert [e["attempt"] for e in events if e["task"] == "TASK-1" and e["to"] == "COMPLETE"] == [2]
    takeover = next(e for e in events if e.get("event") == "takeover")
    assert "attempt 1 lost: its executor gpu/999999999.1 (host gpu) was silent for" in takeover["detail"]
    # The hub keeps both claims, one per attempt.
    assert sorted(os.listdir(os.path.join(hw.house, "work", "archive"))) == ["TASK-1.1.active", "TASK-1.2.active"]


def test_past_max_attempts_the_task_fails_and_says_why(tmp_path, redis_server):
    hub, _, taker = silent_claim(tmp_path, redis_server, max_attempts=1)
    assert taker.take_over() == 0  # nothing to run again
    assert monitor(hub).exit_code == 0
    hw = hub.wizards[0]
    assert load(hw.queue).get("TASK-1").status.value == "FAILED"
    with open(os.path.join(hw.house, "completed", "archive", "TASK-1.1.json")) as f:
        meta = json.load(f)
    assert meta["status"] == "FAILED" and meta["error"].endswith("; no attempts left")
    r = redis_server.client()
    assert r.xlen("robe:tasks:ada") == 0 and r.hgetall("robe:attempt") == {}
