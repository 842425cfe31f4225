"""Alerts: to a command and to a webhook (a real HTTP server on 127.0.0.1), once per occurrence,
retried and logged when the webhook is down, never stopping a run."""

from __future__ import annotations

import datetime as dt
import json
import os

from click.testing import CliRunner
from freezegun import freeze_time

from robe import Fleet
from robe.cli import cli
from robe.clock import now
from robe.cron.selfmonitor import self_monitor
from robe.fleet import alerts
from robe.queue import Status, set_status

from ..support import free_port
from .conftest import Receiver, cycle


def alert_log(fleet) -> list[dict]:
    path = os.path.join(fleet.config.root, "logs", "alerts.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def failing_fleet(fleet_files, usage_agent, alerts_cfg, tasks=1) -> Fleet:
    return fleet_files({"ezra": {"agent": usage_agent(code=1), "max_attempts": 1}}, tasks=tasks, alerts=alerts_cfg)


def test_a_final_failure_is_sent_once_to_the_webhook_and_the_command(fleet_files, usage_agent, alert_command):
    argv, received = alert_command
    with Receiver() as hook:
        fleet = failing_fleet(fleet_files, usage_agent, {"webhook": {"url": hook.url, "fields": {"chat_id": 42}},
                                                         "command": argv})
        cycle(fleet)  # the only attempt fails: FAILED for good
        assert {t.id: t.status for t in fleet.queue("ezra").tasks()} == {"TASK-001": Status.FAILED}
        cycle(fleet)  # nothing new, and the monitor runs again
        fleet.monitor(bare_grace=0.0)
    (body,) = hook.bodies
    assert body["kind"] == "failed" and body["task"] == "TASK-001" and body["wizard"] == "ezra"
    assert body["chat_id"] == 42 and body["key"] == "failed:ezra:TASK-001:1"
    assert body["text"].startswith("robe: TASK-001 FAILED on ezra for good (result FAILED: the agent ")
    assert "exited with code 1" in body["text"] and len(body["text"]) <= 600
    (got,) = received()
    assert got["kind"] == "failed" and got["stdin"] == body["text"] and got["argv"] == ["failed", body["text"]]
    assert [(x["channel"], x["ok"]) for x in alert_log(fleet)] == [("command", True), ("webhook", True)]


def test_a_webhook_that_is_down_is_retried_logged_and_sent_on_a_later_run(fleet_files, usage_agent, monkeypatch):
    monkeypatch.setattr(alerts, "FIRST_WAIT_S", 0.2)
    port = free_port()  # nothing listens there yet: the webhook is down
    url = f"http://127.0.0.1:{port}/hook"
    fleet = failing_fleet(fleet_files, usage_agent, {"webhook": url, "retries": 3})
    cycle(fleet)  # the failure alert cannot be delivered; the run goes on regardless
    tries = alert_log(fleet)
    assert [(t["try"], t["ok"]) for t in tries] == [(1, False), (2, False), (3, False)]
    assert all(t["error"].startswith(f"cannot reach {url}") for t in tries)
    assert {t.id: t.status for t in fleet.queue("ezra").tasks()} == {"TASK-001": Status.FAILED}
    with Receiver(port=port, failures=1) as hook:  # up again; its first answer is a 503
        rep = fleet.dispatch(gateway=False)  # any run that sends alerts delivers what is owed
        assert len(hook.bodies) == 1 and hook.bodies[0]["key"] == "failed:ezra:TASK-001:1"
        fleet.monitor(bare_grace=0.0)
        fleet.dispatch(gateway=False)
        assert len(hook.bodies) == 1  # delivered once
    later = alert_log(fleet)[3:]
    assert [(t["try"], t["ok"], t["error"]) for t in later] == [(4, False, f"{url} answered HTTP 503"), (5, True, None)]
    assert rep.exit_code == 0


def test_a_broken_alert_command_never_stops_a_run(fleet_files, usage_agent):
    fleet = failing_fleet(fleet_files, usage_agent, {"command": ["/nonexistent/notify"], "retries": 1})
    cycle(fleet)
    assert {t.id: t.status for t in fleet.queue("ezra").tasks()} == {"TASK-001": Status.FAILED}
    (t,) = alert_log(fleet)
    assert t["ok"] is False and t["error"].startswith("cannot run /nonexistent/notify")
    rep = fleet.monitor(bare_grace=0.0)  # the next run tries what it still owes, and goes on
    assert rep.exit_code == 0 and [x["try"] for x in alert_log(fleet)] == [1, 2]


def test_a_paused_wizard_is_alerted_once_a_day(fleet_files, usage_agent, alert_command):
    argv, received = alert_command
    with Receiver() as hook:
        fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600)}, "allegro": {"agent": usage_agent(tokens=600)}},
                            budget={"tokens_per_day": 1000}, alerts={"webhook": hook.url, "command": argv})
        cycle(fleet)
        for _ in range(3):  # three dispatch runs find both wizards paused by the fleet's budget
            fleet.dispatch(gateway=False)
    (body,) = hook.bodies
    assert body["kind"] == "paused" and body["key"] == f"paused:fleet:{now():%Y-%m-%d}"
    assert body["text"].startswith("robe: every wizard is paused by the fleet's budget: 1,200 tokens used today")
    assert [g["kind"] for g in received()] == ["paused"]


def test_a_wizard_dead_longer_than_dead_after_is_alerted_once(fleet_files, alert_command):
    argv, received = alert_command
    fleet = fleet_files({"ezra": {"agent": "echo"}}, alerts={"command": argv, "dead_after": 30, "on": ["dead"]})
    start = now() + dt.timedelta(seconds=5)
    for minutes in (0, 20, 31, 45):  # self-monitor every few minutes; no executor, and no restart
        with freeze_time(start + dt.timedelta(minutes=minutes), tick=True):
            checks = self_monitor(fleet.config, restart=False)
            assert not checks[0].up
        assert len(received()) == (0 if minutes < 30 else 1), minutes
    (got,) = received()
    assert got["kind"] == "dead" and got["stdin"].startswith("robe: ezra has been Dead (gateway and executor down) "
                                                             "for 31 min: executor down (no executor has run)")


def test_a_missed_success_metric_is_alerted_once_until_it_is_met_again(fleet_files, alert_command):
    argv, received = alert_command
    fleet = fleet_files({"ezra": {"agent": "echo"}}, tasks=2, alerts={"command": argv, "on": ["metric"]})
    q = fleet.wizard("ezra").queue
    set_status(q, "TASK-001", Status.FAILED)
    set_status(q, "TASK-002", Status.FAILED)

    def metrics() -> int:
        return CliRunner().invoke(cli, ["metrics", "--fleet", fleet.path], catch_exceptions=False).exit_code

    assert metrics() == 1 and metrics() == 1  # completion 0%: missed, twice
    texts = [g["stdin"] for g in received()]
    assert len(texts) == 1 and texts[0].startswith("robe: success metric missed: Task completion rate is 0.0%, "
                                                   "target > 80%")
    set_status(q, "TASK-001", Status.COMPLETE, expect=(Status.FAILED,))
    set_status(q, "TASK-002", Status.COMPLETE, expect=(Status.FAILED,))
    metrics()  # met again: that stretch is over
    set_status(q, "TASK-001", Status.FAILED, expect=(Status.COMPLETE,))
    set_status(q, "TASK-002", Status.FAILED, expect=(Status.COMPLETE,))
    metrics()  # missed again: a new occurrence
    assert [g["stdin"][:40] for g in received()] == ["robe: success metric missed: Task comple"] * 2
    fleet.report()  # the report (cron's every 30 minutes) sees the same miss: nothing new
    assert len(received()) == 2


def test_runs_with_nothing_to_send_write_no_alert_state(fleet_files, usage_agent, alert_command):
    argv, received = alert_command
    fleet = fleet_files({"ezra": {"agent": usage_agent()}}, alerts={"command": argv})
    cycle(fleet)
    cycle(fleet)
    assert received() == [] and not os.path.exists(os.path.join(fleet.config.root, "logs", "alerts.json"))
