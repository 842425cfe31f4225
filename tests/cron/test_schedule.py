"""The schedule table: the seed's defaults, overrides from fleet.yaml, bad expressions as
fleet.yaml errors with their line."""

import datetime as dt
import os

import pytest

from robe.cron.crontab import on_calendar
from robe.cron.schedule import ScheduleError, check_expr, fleet_schedule, next_run
from robe.fleet.config import load_fleet


def table(entries):
    return {(e.wizard, e.job): e.expr for e in entries}


def test_the_seeds_defaults(make_fleet):
    fleet = make_fleet({"allegro": {}, "allegro-primus": {}})
    t = table(fleet_schedule(fleet))
    assert t == {
        ("allegro", "self-monitor"): "*/5 * * * *", ("allegro", "dispatch"): "*/20 * * * *",
        ("allegro", "monitor"): "*/10 * * * *", ("allegro", "report"): "*/30 * * * *",
        ("allegro", "checkpoint"): "0 * * * *",
        ("allegro-primus", "self-monitor"): "*/5 * * * *", ("allegro-primus", "dispatch"): "*/15 * * * *",
        ("allegro-primus", "monitor"): "*/10 * * * *", ("allegro-primus", "report"): "*/30 * * * *",
        ("allegro-primus", "checkpoint"): "0 * * * *",
    }


def test_each_job_runs_its_robe_command_for_its_wizard_and_one_wizard_watches_the_services(make_fleet):
    fleet = make_fleet({"ezra": {}, "allegro": {}}, default_wizard="allegro")
    args = {(e.wizard, e.job): e.args for e in fleet_schedule(fleet)}
    assert args[("ezra", "dispatch")] == ("dispatch", "--wizard", "ezra")
    assert args[("ezra", "monitor")] == ("monitor", "--wizard", "ezra")
    assert args[("ezra", "self-monitor")] == ("self-monitor", "--wizard", "ezra")
    assert args[("allegro", "self-monitor")] == ("self-monitor", "--wizard", "allegro", "--services")


def test_overrides_per_wizard_and_off(make_fleet):
    fleet = make_fleet({"ezra": {"schedule": {"dispatch": "*/3 * * * *", "report": "off"}}, "allegro": {}})
    t = table(fleet_schedule(fleet))
    assert t[("ezra", "dispatch")] == "*/3 * * * *"
    assert ("ezra", "report") not in t
    assert t[("allegro", "dispatch")] == "*/20 * * * *"
    assert table(fleet_schedule(fleet, ["allegro"])).keys() == {("allegro", j) for j in
                                                                ("self-monitor", "dispatch", "monitor", "report",
                                                                 "checkpoint")}


def test_the_example_fleet_is_valid():
    here = os.path.dirname(os.path.abspath(__file__))
    fleet = load_fleet(os.path.join(here, "..", "..", "examples", "fleet.yaml"))
    t = table(fleet_schedule(fleet))
    assert t[("allegro-primus", "dispatch")] == "*/15 * * * *"
    assert t[("ezra", "dispatch")] == "*/20 * * * *"


FLEET_WITH_BAD_LINE = """\
root: .
ports: {first: 8643, last: 8699}
wizards:
  ezra:
    port: 8643
    agent: {kind: echo}
    schedule:
      monitor: "*/10 * * * *"
      dispatch: "%s"
"""


@pytest.mark.parametrize("expr, why", [
    ("*/15 * * *", "has 4 fields"),
    ("* * * * * *", "has 6 fields"),
    ("61 * * * *", "not a valid cron expression"),
    ("*/15 * * * L", "is not a cron field"),
    ("@reboot", "not a cron macro"),
])
def test_a_bad_expression_is_a_fleet_yaml_error_with_its_line(tmp_path, expr, why):
    p = tmp_path / "fleet.yaml"
    p.write_text(FLEET_WITH_BAD_LINE % expr)
    fleet = load_fleet(str(p))
    with pytest.raises(ScheduleError) as e:
        fleet_schedule(fleet)
    msg = str(e.value)
    assert msg.startswith(f"{p}:9: wizards.ezra.schedule.dispatch: "), msg
    assert why in msg


def test_an_unknown_job_is_named_with_a_suggestion(tmp_path):
    p = tmp_path / "fleet.yaml"
    p.write_text(FLEET_WITH_BAD_LINE.replace('dispatch: "%s"', 'dispach: "*/5 * * * *"'))
    with pytest.raises(ScheduleError, match=r"fleet.yaml:9: wizards.ezra.schedule.dispach: unknown job "
                                            r"\(did you mean 'dispatch'\?\)"):
        fleet_schedule(load_fleet(str(p)))


def test_the_cli_reports_a_bad_schedule_as_one_line_exit_1(tmp_path):
    from click.testing import CliRunner

    from robe.cli import cli

    p = tmp_path / "fleet.yaml"
    p.write_text(FLEET_WITH_BAD_LINE % "*/15 * * *")
    r = CliRunner().invoke(cli, ["cron", "show", "--fleet", str(p)])
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: {p}:9: wizards.ezra.schedule.dispatch: '*/15 * * *' has 4 fields")


def test_expressions_cron_accepts():
    for e in ("*/5 * * * *", "0 * * * *", "0 9-17/2 * * mon-fri", "5,35 */2 1 jan,jul *", "@hourly", "@daily"):
        assert check_expr(e) is None, e


def test_next_run():
    at = dt.datetime(2026, 11, 23, 10, 7, 30)
    assert next_run("*/15 * * * *", at) == dt.datetime(2026, 11, 23, 10, 15)
    assert next_run("0 * * * *", at) == dt.datetime(2026, 11, 23, 11, 0)


def test_systemd_calendar_from_cron():
    assert on_calendar("*/15 * * * *") == ["*-*-* *:00,15,30,45:00"]
    assert on_calendar("0 * * * *") == ["*-*-* *:00:00"]
    assert on_calendar("30 9 * * 1-5") == ["Mon,Tue,Wed,Thu,Fri *-*-* 09:30:00"]
    assert on_calendar("@daily") == ["*-*-* 00:00:00"]
    # cron ORs day-of-month and day-of-week when both are set; systemd would AND them
    assert on_calendar("0 0 1 * 0") == ["*-*-01 00:00:00", "Sun *-*-* 00:00:00"]
