"""Agents that misbehave, as real processes: hang, leave SIGTERM-proof grandchildren, print
50 MB, print bytes that are not UTF-8."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from robe.execute import Executor, Options

from .conftest import agent_script, answer, drop_claim, outcome, pid_alive, wait_for

FAST = Options(scan_interval=0.2, heartbeat_interval=0.2, grace=0.5, shutdown_grace=1.0)

GRANDCHILD = """
import os, signal, subprocess, sys, time
pidfile = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
with open(pidfile + ".tmp", "w") as f:
    f.write(str(child.pid))
os.rename(pidfile + ".tmp", pidfile)
print("started", child.pid, flush=True)
if sys.argv[2] == "hang":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # the agent itself ignores SIGTERM too
    time.sleep(120)
"""


def test_hanging_agent_is_killed_at_the_timeout(make_fleet):
    fleet = make_fleet(ezra={"timeout": 1, "agent": {"kind": "command",
                                                     "argv": [sys.executable, "-c", "import time; print('thinking', flush=True); time.sleep(120)"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    t = time.monotonic()
    Executor([w], FAST).run(once=True)
    took = time.monotonic() - t
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED" and o["error"] == "timed out after 1 s"
    assert 1.0 <= o["duration_s"] < 3.0 and took < 5.0
    assert answer(w, "TASK-001") == "thinking\n"  # what it said before it was killed is kept


def test_grandchild_that_ignores_sigterm_dies_with_the_group(make_fleet, tmp_path):
    script = agent_script(tmp_path, "forker.py", GRANDCHILD)
    pidfile = str(tmp_path / "grandchild.pid")
    fleet = make_fleet(ezra={"timeout": 1, "agent": {"kind": "command", "argv": [sys.executable, script, pidfile, "hang"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-002")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-002")
    assert o["status"] == "FAILED" and o["error"] == "timed out after 1 s"
    grandchild = int(Path(pidfile).read_text())
    assert wait_for(lambda: not pid_alive(grandchild), 2.0), "the SIGTERM-proof grandchild outlived its agent"


def test_what_an_agent_leaves_behind_in_its_group_dies_when_it_exits(make_fleet, tmp_path):
    script = agent_script(tmp_path, "forker.py", GRANDCHILD)
    pidfile = str(tmp_path / "grandchild.pid")
    fleet = make_fleet(ezra={"timeout": 30, "agent": {"kind": "command", "argv": [sys.executable, script, pidfile, "exit"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-003")
    t = time.monotonic()
    Executor([w], FAST).run(once=True)
    # The leftover holds the agent's stdout open; robe neither waits for it nor lets it live.
    assert time.monotonic() - t < 5.0
    o = outcome(w, "TASK-003")
    assert o["status"] == "COMPLETE"
    grandchild = int(Path(pidfile).read_text())
    assert wait_for(lambda: not pid_alive(grandchild), 2.0)


def test_fifty_megabytes_of_output_are_capped_and_marked(make_fleet):
    code = "import sys\nchunk = b'x' * (1 << 20)\nfor _ in range(50): sys.stdout.buffer.write(chunk)\n"
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, "-c", code]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-004")
    t = time.monotonic()
    Executor([w], FAST).run(once=True)
    assert time.monotonic() - t < 30
    o = outcome(w, "TASK-004")
    assert o["status"] == "COMPLETE" and o["truncated"] is True
    text = answer(w, "TASK-004")
    cap = 1024 * 1024
    assert text == "x" * cap + f"\n[robe: output cut at {cap} bytes]\n"
    assert os.path.getsize(os.path.join(w.house, "completed", "TASK-004.txt")) < cap + 100


def test_a_smaller_cap_is_honoured(make_fleet):
    code = "print('y' * 5000)"
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, "-c", code]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-005")
    Executor([w], Options(output_cap=2048)).run(once=True)
    assert answer(w, "TASK-005") == "y" * 2048 + "\n[robe: output cut at 2048 bytes]\n"


def test_invalid_utf8_is_replaced_not_fatal(make_fleet):
    code = "import sys; sys.stdout.buffer.write(b'caf\\xc3\\xa9 \\xff\\xfe bad \\xc3 end\\n')"
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, "-c", code]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-006")
    Executor([w], FAST).run(once=True)
    assert outcome(w, "TASK-006")["status"] == "COMPLETE"
    assert answer(w, "TASK-006") == "café \ufffd\ufffd bad \ufffd end\n"
