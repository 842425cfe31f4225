"""robe monitor / task-monitor on the command line: one line per transition, --json, exit codes, help."""

from __future__ import annotations

import json
import os
import subprocess

from click.testing import CliRunner

from robe.cli import cli

from .helpers import bin_path, write_result


def test_monitor_prints_one_line_per_transition(one_wizard):
    s = one_wizard
    s.dispatch()
    write_result(s.house(), "TASK-001")
    write_result(s.house(), "TASK-002", "FAILED", error="boom", exit_code=1)
    r = CliRunner().invoke(cli, ["monitor", "--fleet", s.fleet_path], catch_exceptions=False)
    assert r.exit_code == 0
    assert r.output == ("ezra: TASK-001 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE\n"
                        "ezra: TASK-002 IN_PROGRESS -> PENDING (attempt 1): result FAILED: boom; attempt 1, "
                        "1 of 3 failures: runs again\n")
    r = CliRunner().invoke(cli, ["monitor", "--fleet", s.fleet_path], catch_exceptions=False)
    assert (r.exit_code, r.output) == (0, "")


def test_monitor_json_and_the_task_monitor_script(one_wizard):
    s = one_wizard
    s.dispatch()
    write_result(s.house(), "TASK-003")
    env = {k: v for k, v in os.environ.items() if k != "ROBE_FLEET"}
    p = subprocess.run([bin_path("task-monitor"), "--fleet", s.fleet_path, "--json"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["exit_code"] == 0 and d["queue_writes"] == 1 and d["busy"] == [] and d["errors"] == []
    (t,) = d["transitions"]
    assert (t["wizard"], t["task"], t["kind"], t["from"], t["to"], t["attempt"]) == (
        "ezra", "TASK-003", "result", "IN_PROGRESS", "COMPLETE", 1)
    assert t["archived"] == ["work/archive/TASK-003.1.active", "completed/archive/TASK-003.1.txt",
                             "completed/archive/TASK-003.1.json"]


def test_monitor_exit_1_when_something_could_not_be_done(one_wizard):
    s = one_wizard
    s.dispatch()
    write_result(s.house(), "TASK-001")
    os.rename(s.qpath, str(s.qpath) + ".away")
    os.mkdir(s.qpath)  # the queue cannot be read or written
    r = CliRunner().invoke(cli, ["monitor", "--fleet", s.fleet_path])
    assert r.exit_code == 1 and "nothing of it archived" in r.output


def test_unknown_wizard_is_a_plain_error(one_wizard):
    r = CliRunner().invoke(cli, ["monitor", "--fleet", one_wizard.fleet_path, "--wizard", "nobody"])
    assert r.exit_code == 1 and "no wizard named 'nobody'" in r.output


def test_every_monitor_command_has_help():
    for name in ("monitor", "report", "metrics", "checkpoint", "history"):
        r = CliRunner().invoke(cli, [name, "--help"])
        assert r.exit_code == 0 and "Usage: " in r.output and "--fleet" in r.output, name


def test_task_monitor_script_says_errors_in_one_sentence(one_wizard):
    p = subprocess.run([bin_path("task-monitor"), "--fleet", one_wizard.fleet_path, "--wizard", "nobody"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("Error: ") and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
