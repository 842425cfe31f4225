"""robe history: transitions from the checkpoints' git history and the event log."""

from __future__ import annotations

import json

from click.testing import CliRunner

from robe.cli import cli
from robe.checkpoint.commit import checkpoint
from robe.checkpoint.history import history

from .helpers import write_result


def test_history_of_one_task_from_git_and_events(one_wizard):
    s = one_wizard
    house = s.house()
    c1 = checkpoint(str(house), queues=(s.qpath,))
    s.dispatch()
    write_result(house, "TASK-001", "FAILED", error="boom", exit_code=1)
    s.monitor()
    s.dispatch()
    write_result(house, "TASK-001", attempt=2)
    s.monitor()
    c2 = checkpoint(str(house), queues=(s.qpath,))
    rows = history(s.fleet(), "TASK-001")
    git_rows = [(r["from"], r["to"], r["commit"]) for r in rows if r["source"] == "git"]
    assert git_rows == [(None, "PENDING", c1.commit), ("PENDING", "COMPLETE", c2.commit)]
    ev = [(r["from"], r["to"], r["event"], r["attempt"]) for r in rows if r["source"] == "event"]
    assert ev == [("PENDING", "IN_PROGRESS", "dispatch", 1), ("IN_PROGRESS", "PENDING", "retry", 1),
                  ("PENDING", "IN_PROGRESS", "dispatch", 2), ("IN_PROGRESS", "COMPLETE", "result", 2)]
    assert all(r["task"] == "TASK-001" for r in rows)
    r = CliRunner().invoke(cli, ["history", "TASK-001", "--fleet", s.fleet_path], catch_exceptions=False)
    out = r.output.splitlines()
    assert r.exit_code == 0 and len(out) == len(rows)
    assert out[0][19:].startswith(f"  TASK-001  - -> PENDING  (commit {c1.commit[:10]})")
    assert any("TASK-001  IN_PROGRESS -> COMPLETE  (result by monitor:" in x and "attempt 2" in x for x in out)
    js = json.loads(CliRunner().invoke(cli, ["history", "TASK-001", "--fleet", s.fleet_path, "--json"]).output)
    assert js == rows


def test_history_of_all_tasks_is_the_latest_transitions(one_wizard):
    s = one_wizard
    s.dispatch()
    for tid in ("TASK-001", "TASK-002", "TASK-003"):
        write_result(s.house(), tid)
    s.monitor()
    rows = history(s.fleet(), limit=3)
    assert [(r["task"], r["to"]) for r in rows] == [("TASK-001", "COMPLETE"), ("TASK-002", "COMPLETE"),
                                                    ("TASK-003", "COMPLETE")]
    r = CliRunner().invoke(cli, ["history", "--fleet", s.fleet_path, "--limit", "2"])
    assert len(r.output.splitlines()) == 2


def test_history_with_nothing_recorded(one_wizard):
    r = CliRunner().invoke(cli, ["history", "TASK-009", "--fleet", one_wizard.fleet_path])
    assert r.exit_code == 0 and r.output == "no transitions of TASK-009 recorded\n"
