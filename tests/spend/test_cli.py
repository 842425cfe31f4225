"""robe spend, robe queue show, the progress report and fleet.yaml's checks, on real results."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from robe import Fleet
from robe.cli import cli
from robe.fleet import FleetError, load_fleet

from ..support import write
from .conftest import cycle


def robe(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def spent(fleet_files, usage_agent, tmp_path):
    """Two wizards that ran: ezra two tasks (700 tokens, $0.125 each), allegro one (reporting nothing)."""
    script = tmp_path / "quiet.py"
    script.write_text("print('ok')\n")
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=700, cost=0.125), "max_active": 2,
                                  "budget": {"tokens_per_day": 100000, "cost_per_day": 5}},
                         "allegro": {"agent": {"kind": "command", "argv": ["python3", str(script)]}}}, tasks=2,
                        budget={"cost_per_day": 20})
    cycle(fleet)
    return fleet


def test_robe_spend_shows_tokens_cost_and_time_per_wizard(spent):
    r = robe("spend", "--fleet", spent.path)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("Spend since ") and lines[0].endswith(" UTC (24h):")
    assert lines[1].split() == ["WIZARD", "ATTEMPTS", "TOKENS", "IN", "TOKENS", "OUT", "TOKENS", "COST", "AGENT", "TIME"]
    assert lines[2].split()[:6] == ["ezra", "2", "1,200", "200", "1,400", "$0.25"]
    assert lines[3].split()[:6] == ["allegro", "1", "-", "-", "-", "-"]  # its agent reported nothing
    assert lines[4].split()[:6] == ["all", "3", "1,200", "200", "1,400", "$0.25"]
    assert "ezra     1,400 tokens, $0.25" in r.output and "100,000 tokens/day, $5.00/day" in r.output
    assert "fleet" in lines[-1] and "$20.00/day" in lines[-1] and lines[-1].split()[-1] == "ok"


def test_robe_spend_json_one_wizard_and_since(spent):
    data = json.loads(robe("spend", "--fleet", spent.path, "--wizard", "ezra", "--json", "--tasks").output)
    (row,) = data["wizards"]
    assert row["wizard"] == "ezra" and row["attempts"] == 2 and row["total_tokens"] == 1400
    assert row["cost_usd"] == 0.25 and row["priced_attempts"] == 2 and row["paused"] is None
    assert row["budget"] == {"tokens_per_day": 100000, "cost_per_day": 5.0}
    assert [a["task"] for a in row["attempts_list"]] == ["TASK-001", "TASK-002"]
    assert all(a["reported_by"] == "agent usage file" for a in row["attempts_list"])
    assert data["fleet_today"]["total_tokens"] == 1400
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    later = json.loads(robe("spend", "--fleet", spent.path, "--since", future, "--json").output)
    assert [w["attempts"] for w in later["wizards"]] == [0, 0]


def test_robe_spend_refuses_a_time_it_cannot_read(spent):
    r = robe("spend", "--fleet", spent.path, "--since", "yesterdayish")
    assert r.exit_code == 2 and "'yesterdayish' is not a time; write 24h, 30m, 7d, today" in r.output


def test_queue_show_adds_what_the_tasks_attempts_spent(spent):
    q = spent.wizard("ezra").queue
    r = robe("queue", "show", "TASK-001", "-f", q, "--fleet", spent.path)
    assert r.exit_code == 0, r.output
    assert "  spend     1 attempt: 600 tokens in, 100 out, $0.1250, " in r.output
    data = json.loads(robe("queue", "show", "TASK-002", "-f", q, "--fleet", spent.path, "--json").output)
    assert data["spend"]["total"]["total_tokens"] == 700 and data["spend"]["attempts"][0]["wizard"] == "ezra"
    # allegro's TASK-001 is another task of another queue: ezra's result is not counted for it.
    data = json.loads(robe("queue", "show", "TASK-001", "-f", spent.wizard("allegro").queue, "--fleet", spent.path,
                           "--json").output)
    assert [a["wizard"] for a in data["spend"]["attempts"]] == ["allegro"]


def test_the_progress_report_shows_spend(spent):
    rep = Fleet.load(spent.path).report()
    sp = rep.data["spend"]
    assert sp["wizards"]["ezra"]["total_tokens"] == 1400 and sp["today"]["ezra"]["cost_usd"] == 0.25
    assert sp["budgets"]["ezra"] == {"tokens_per_day": 100000, "cost_per_day": 5.0} and sp["paused"] == []
    assert "## Spend" in rep.markdown
    assert "| ezra | 2 | 1,200 | 200 | $0.25 | " in rep.markdown
    assert "| allegro | 1 | - | - | - | " in rep.markdown


@pytest.mark.parametrize("text, line, message", [
    ("wizards:\n  ezra:\n    port: 8643\n    budget: {tokens_per_day: lots}\n", 4,
     "wizards.ezra.budget.tokens_per_day: expected a whole number, found 'lots'; write a whole number of tokens"),
    ("budget: {cost_per_day: 0}\nwizards: {}\n", 1,
     "budget.cost_per_day: '0' is not an amount above 0; write an amount in US dollars, e.g. 5 or 2.50"),
    ("budget: {tokens_per_week: 5}\n", 1, "budget.tokens_per_week: unknown key"),
    ("alerts: {dead_after: 10}\n", 1, "alerts: says neither where to send alerts; add 'command: [notify-me"),
    ("alerts: {webhook: ftp://x}\n", 1, "alerts.webhook: 'ftp://x' is not an http:// or https:// URL"),
    ("alerts:\n  command: [notify]\n  on: [failed, pasued]\n", 3,
     "alerts.on: 'pasued' is not an occasion for an alert (did you mean 'paused'?); write some of: failed, paused, "
     "dead, metric"),
])
def test_fleet_yaml_budget_and_alert_errors_name_the_line_and_the_fix(tmp_path, text, line, message):
    path = write(tmp_path / "fleet.yaml", text)
    with pytest.raises(FleetError) as e:
        load_fleet(path)
    assert str(e.value).startswith(f"{path}:{line}: {message}")
