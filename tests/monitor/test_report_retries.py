"""The report's Failures section includes failed attempts that will be retried (issue 16, point 8),
not only tasks that are FAILED for good; an attempt the agent asked to run later is no failure."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from robe.cli import cli

from ..support import settle


def robe(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_failures_lists_attempts_that_will_be_retried_and_tasks_failed_for_good(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.chdir(tmp_path)
    exit_with = f"{sys.executable} -c 'import sys; print(\"no luck\", file=sys.stderr); sys.exit({{code}})'"
    assert robe("init", ".", "--agent", "echo").exit_code == 0
    for name, code in (("flaky", 1), ("doomed", 1), ("busy", 75)):
        assert robe("wizard", "create", name, "--agent", "command", "--command", exit_with.format(code=code)) \
            .exit_code == 0
    assert robe("wizard", "set", "doomed", "max_attempts=1").exit_code == 0
    for who in ("flaky", "doomed", "busy"):
        assert robe("queue", "add", f"A task for {who}", "-w", who).exit_code == 0
    settle(tmp_path)
    for step in (["dispatch", "--no-gateway", "-w", "flaky", "-w", "doomed", "-w", "busy"], ["execute", "--once"],
                 ["monitor"]):
        robe(*step)
    r = robe("report", "--print", "--json")
    failures = json.loads(r.stdout)["failures"]
    assert [(f["task"], f["wizard"], f["final"]) for f in failures] == [
        ("TASK-001", "doomed", True), ("TASK-001", "flaky", False)]
    retried = failures[1]
    assert retried["attempt"] == 1 and "exited with code 1: no luck" in retried["reason"]
    md = robe("report", "--print").stdout
    section = md.split("## Failures\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[0] == "| Task | Wizard | Title | Reason | Next |"
    assert section[2].startswith("| TASK-001 | doomed | A task for doomed | result FAILED: ")
    assert section[2].endswith("| no attempts left |")
    assert section[3].startswith("| TASK-001 | flaky | A task for flaky | ") and "no luck" in section[3]
    assert section[3].endswith("| attempt 1 failed; it will be retried |")
    assert len(section) == 4  # busy's exit code 75 asked to run later: no failure
