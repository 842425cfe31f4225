"""The real cron daemon runs what 'robe cron install' wrote."""

import os

import pytest
from click.testing import CliRunner

from robe.cli import cli

from .conftest import crontab_bytes, statuses, wait_for

QUEUE = """\
# Queue

### TASK-001: Summarise the gateway logs
- Status: PENDING
- Assignee: ezra

Count the requests.
"""


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


@pytest.mark.slow
def test_cron_itself_runs_robes_dispatch_within_two_minutes(make_fleet, cron_daemon, real_crontab):
    off = {j: "off" for j in ("self-monitor", "monitor", "report", "checkpoint")}
    fleet = make_fleet({"ezra": {"schedule": {"dispatch": "* * * * *", **off}}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write(QUEUE)
    r = CliRunner().invoke(cli, ["cron", "install", "--fleet", fleet.path], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert crontab_bytes().count(b"dispatch --wizard ezra") == 1
    try:
        claim = os.path.join(ezra.work_dir, "TASK-001.active")
        wait_for(lambda: os.path.exists(claim), 130, step=1.0, what="cron to run robe dispatch")
        wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "IN_PROGRESS", 10, what="the queue to say IN_PROGRESS")
        log = os.path.join(ezra.logs_dir, "cron.log")
        wait_for(lambda: "TASK-001" in read(log), 10, what="dispatch's output in cron.log")
    finally:
        CliRunner().invoke(cli, ["cron", "remove", "--fleet", fleet.path], catch_exceptions=False)
    assert b"robe" not in crontab_bytes()
