"""Running claims with the echo and command agents: results, outcomes, events, exit codes."""

from __future__ import annotations

import json
import os
import sys

from robe.execute import Executor, Options

from .conftest import agent_script, answer, drop_claim, outcome

FAST = Options(scan_interval=0.2, heartbeat_interval=0.2, grace=0.5, shutdown_grace=1.0, backoff=0.01)


def test_echo_agent_answers_through_the_result_path(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001", "Rotate the gateway logs", attempt=2)
    out = Executor([w], FAST).run(once=True)
    assert [o["id"] for o in out] == ["TASK-001"]
    o = outcome(w, "TASK-001")
    assert o["status"] == "COMPLETE" and o["exit_code"] == 0 and o["error"] is None
    assert o["agent"] == "echo" and o["attempt"] == 2 and o["wizard"] == "ezra" and o["truncated"] is False
    assert set(o) >= {"started_at", "finished_at", "duration_s"}
    text = answer(w, "TASK-001")
    assert text.startswith("TASK-001: Rotate the gateway logs\n")
    assert "Task ID: TASK-001" in text and "completed/TASK-001.txt" in text
    # The heartbeat and lock are gone, the claim stays for the monitor, nothing else in completed/.
    assert sorted(os.listdir(os.path.join(w.house, "work"))) == ["TASK-001.active"]
    assert sorted(os.listdir(os.path.join(w.house, "completed"))) == ["TASK-001.json", "TASK-001.txt"]
    with open(os.path.join(w.house, "logs", "events.jsonl")) as f:
        events = [json.loads(line) for line in f]
    assert events[-1]["task"] == "TASK-001" and events[-1]["status"] == "COMPLETE"
    assert events[-1]["by"].startswith("executor:")
    # Run again: the result is there, nothing runs twice.
    assert Executor([w], FAST).run(once=True) == []
    # The executor's own heartbeat file is removed when it stops.
    assert not os.path.exists(w.executor_file)


def test_command_agent_gets_argv_env_and_prompt_file(make_fleet, tmp_path):
    script = agent_script(tmp_path, "agent.py", """
import json, os, sys
prompt = open(sys.argv[1]).read()
print(json.dumps({"argv": sys.argv[2:], "prompt": prompt, "cwd": os.getcwd(),
                  "env": {k: os.environ.get(k) for k in ("HERMES_HOME", "ROBE_TASK_ID", "ROBE_WIZARD")}}))
""")
    fleet = make_fleet(ezra={"agent": {"kind": "command",
                                       "argv": [sys.executable, script, "{prompt_file}", "{task_id}", "t={title}",
                                                "{wizard}", "{nope}"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "BUG-17", "Fix {task_id} the bug", body="Line one.\nLine two.")
    Executor([w], FAST).run(once=True)
    assert outcome(w, "BUG-17")["status"] == "COMPLETE"
    got = json.loads(answer(w, "BUG-17"))
    # One pass: a placeholder inside the title is not filled in again; unknown ones stay.
    assert got["argv"] == ["BUG-17", "t=Fix {task_id} the bug", "ezra", "{nope}"]
    assert got["prompt"].startswith("BUG-17: Fix {task_id} the bug\n\nLine one.\nLine two.\n\nTask ID: BUG-17\n")
    assert got["env"] == {"HERMES_HOME": w.home, "ROBE_TASK_ID": "BUG-17", "ROBE_WIZARD": "ezra"}
    assert got["cwd"].startswith(os.path.realpath(w.house) + os.sep)
    # The scratch folder was the agent's and is gone.
    assert not os.path.exists(os.path.join(w.house, "scratch", "BUG-17"))


def test_exit_75_means_retry_not_failed(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, "-c", "import sys; sys.exit(75)"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-002")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-002")
    assert o["status"] == "RETRY" and o["exit_code"] == 75 and "rate-limited" in o["error"]


def test_nonzero_exit_is_failed_with_the_agents_last_error_line(make_fleet):
    code = "import sys; print('partial answer'); sys.stderr.write('warming up\\nmodel quota exhausted\\n'); sys.exit(3)"
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, "-c", code]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-003")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-003")
    assert o["status"] == "FAILED" and o["exit_code"] == 3
    assert o["error"].endswith("exited with code 3: model quota exhausted")
    assert answer(w, "TASK-003") == "partial answer\n"


def test_missing_command_is_failed_with_a_fix(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": ["/nonexistent/agent-binary", "{task_id}"]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-004")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-004")
    assert o["status"] == "FAILED" and "was not found" in o["error"] and "fleet.yaml" in o["error"]


def test_unreadable_claim_gets_a_failed_result_with_the_reason(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    open(os.path.join(w.house, "work", "TASK-005.active"), "w").close()  # a hand-made empty trigger
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-005")
    assert o["status"] == "FAILED" and "not the JSON" in o["error"]


def test_max_parallel_runs_that_many_at_once(make_fleet, tmp_path):
    script = agent_script(tmp_path, "slow.py", """
import os, sys, time
d = sys.argv[1]
open(os.path.join(d, os.environ["ROBE_TASK_ID"] + ".start"), "w").close()
time.sleep(0.4)
print(len([n for n in os.listdir(d) if n.endswith(".start")]) - len([n for n in os.listdir(d) if n.endswith(".end")]))
open(os.path.join(d, os.environ["ROBE_TASK_ID"] + ".end"), "w").close()
""")
    marks = tmp_path / "marks"
    marks.mkdir()
    fleet = make_fleet(ezra={"max_parallel": 3, "agent": {"kind": "command",
                                                          "argv": [sys.executable, script, str(marks)]}})
    w = fleet.wizard("ezra")
    for i in range(6):
        drop_claim(w, f"TASK-{i:03d}")
    Executor([w], FAST).run(once=True)
    seen = [int(answer(w, f"TASK-{i:03d}")) for i in range(6)]
    assert max(seen) == 3 and all(n <= 3 for n in seen)
