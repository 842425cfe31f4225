"""Budgets: a wizard over a daily budget (its own, or the fleet's) gets no new claims until the
next UTC day, or until the budget is raised; robe status shows it paused."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from robe import Fleet
from robe.cli import cli
from robe.clock import now
from robe.fleet.spend import day_start
from robe.queue import load

from .conftest import cycle

UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def not_at_midnight():
    """These tests spend "today": begin them clear of a UTC midnight, so today stays today."""
    left = (day_start(now()) + dt.timedelta(days=1) - now()).total_seconds()
    if left < 120:
        time.sleep(left + 1)


def statuses(w) -> dict:
    return {t.id: t.status.value for t in load(w.queue).tasks}


def status_cli(fleet, *args) -> str:
    r = CliRunner().invoke(cli, ["status", "--fleet", fleet.path, *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_a_wizard_at_its_daily_budget_is_paused_and_resumes_the_next_utc_day(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600), "budget": {"tokens_per_day": 1000}}}, tasks=4)
    w = fleet.wizard("ezra")
    cycle(fleet)  # TASK-001: 600 tokens, under the budget
    cycle(fleet)  # TASK-002 was still claimed: 1,200 tokens now
    assert statuses(w) == {"TASK-001": "COMPLETE", "TASK-002": "COMPLETE", "TASK-003": "PENDING",
                           "TASK-004": "PENDING"}

    notes = []
    rep = fleet.dispatch(gateway=False, note=notes.append)
    tomorrow = day_start(now()) + dt.timedelta(days=1)
    (run,) = rep.wizards
    assert run.state == "paused" and rep.claims == [] and rep.exit_code == 0
    assert notes == [f"ezra: paused by its budget: 1,200 tokens used today (UTC) of its tokens_per_day of 1,000 tokens; "
                     f"no new claims until {tomorrow:%Y-%m-%d} 00:00 UTC, or until the budget is raised in fleet.yaml"]
    assert rep.to_dict()["wizards"][0]["paused"]["until"] == tomorrow.strftime("%Y-%m-%dT00:00:00.000Z")
    assert statuses(w)["TASK-003"] == "PENDING"
    assert not [n for n in os.listdir(w.work_dir) if n.endswith(".active")]
    out = status_cli(fleet)
    assert "ezra    Dead, paused" in out and "  ezra: paused by its budget: 1,200 tokens" in out
    assert json.loads(status_cli(fleet, "--json"))[0]["paused"]["limit"] == "tokens_per_day"

    with freeze_time(tomorrow + dt.timedelta(minutes=1), tick=True):
        assert "paused" not in status_cli(fleet)
        rep = fleet.dispatch(gateway=False)
        assert rep.wizards[0].state == "ok" and [c.id for c in rep.claims] == ["TASK-003"]
    assert statuses(w)["TASK-003"] == "IN_PROGRESS"


def test_raising_the_budget_resumes_the_wizard_at_once(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600), "budget": {"tokens_per_day": 500}}})
    cycle(fleet)
    assert fleet.dispatch(gateway=False).wizards[0].state == "paused"
    fleet_files.doc["wizards"]["ezra"]["budget"] = {"tokens_per_day": 5000}
    fleet_files.write()
    rep = Fleet.load(fleet.path).dispatch(gateway=False)
    assert rep.wizards[0].state == "ok" and [c.id for c in rep.claims] == ["TASK-002"]



def test_queue_list_ready_of_a_paused_wizard_says_dispatch_takes_none_today(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600), "budget": {"tokens_per_day": 500}}})
    cycle(fleet)
    r = CliRunner().invoke(cli, ["queue", "list", "--fleet", fleet.path, "-w", "ezra", "--ready"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and [line.split()[1] for line in r.stdout.splitlines()[1:]] == ["TASK-002", "TASK-003"]
    assert "ezra: paused by its budget: 600 tokens used today (UTC)" in r.stderr
    assert r.stderr.rstrip().endswith("; robe dispatch claims none of these until then")
    dry = CliRunner().invoke(cli, ["dispatch", "--fleet", fleet.path, "-w", "ezra", "--dry-run", "--no-gateway"])
    assert dry.stdout == ""

@pytest.mark.parametrize("budget, agent, said", [
    ({"cost_per_day": 0.5}, {"tokens": 10, "cost": 0.25}, "$0.50 used today (UTC) of its cost_per_day of $0.50"),
    ({"seconds_per_day": 1}, None, "s of agent time used today (UTC) of its seconds_per_day of 1 s of agent time"),
])
def test_cost_and_agent_time_budgets_pause_too(fleet_files, usage_agent, tmp_path, budget, agent, said):
    if agent is None:
        script = tmp_path / "slow.py"
        script.write_text("import time; time.sleep(0.6); print('ok')\n")
        settings = {"kind": "command", "argv": [sys.executable, str(script)]}
    else:
        settings = usage_agent(**agent)
    fleet = fleet_files({"ezra": {"agent": settings, "budget": budget, "max_active": 2}})
    cycle(fleet)  # two attempts at once: 0.50 dollars, or 1.2 s
    notes = []
    rep = fleet.dispatch(gateway=False, note=notes.append)
    assert rep.wizards[0].state == "paused" and rep.claims == []
    assert said in notes[0]


def test_the_fleet_budget_pauses_every_wizard(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600)}, "allegro": {"agent": usage_agent(tokens=600)}},
                        budget={"tokens_per_day": 1000})
    cycle(fleet)  # one task each: 1,200 tokens for the fleet, 600 each
    notes = []
    rep = fleet.dispatch(gateway=False, note=notes.append)
    assert [r.state for r in rep.wizards] == ["paused", "paused"] and rep.claims == []
    assert {r.pause.scope for r in rep.wizards} == {"fleet"}
    assert sorted(notes) == [f"{n}: paused by the fleet's budget: 1,200 tokens used today (UTC) of the fleet's "
                             f"tokens_per_day of 1,000 tokens; no new claims until "
                             f"{day_start(now()) + dt.timedelta(days=1):%Y-%m-%d} 00:00 UTC, or until the budget "
                             "is raised in fleet.yaml" for n in ("allegro", "ezra")]
    out = status_cli(fleet)
    assert out.count(", paused") == 2
    show = CliRunner().invoke(cli, ["wizard", "show", "ezra", "--fleet", fleet.path], catch_exceptions=False).output
    assert "budget         -  (paused by the fleet's budget: 1,200 tokens used today" in show


def test_a_wizard_budget_under_the_fleets_pauses_only_that_wizard(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=600), "budget": {"tokens_per_day": 500}},
                         "allegro": {"agent": usage_agent(tokens=600)}}, budget={"tokens_per_day": 100000})
    cycle(fleet)
    rep = fleet.dispatch(gateway=False)
    assert {r.name: r.state for r in rep.wizards} == {"ezra": "paused", "allegro": "ok"}
    assert [c.wizard for c in rep.claims] == ["allegro"]
