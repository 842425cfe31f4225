"""robe doctor's cron check, against the real crontab: missing, in step, out of step."""

import json

from click.testing import CliRunner

from robe.cli import cli


def cron_checks(fleet_path):
    r = CliRunner().invoke(cli, ["doctor", "--fleet", fleet_path, "--json"])
    data = json.loads(r.output)
    return {(c["subject"], c["level"]) for c in data["checks"] if c["check"] == "cron"}


def test_doctor_says_when_the_crontab_lacks_or_lags_the_schedule(make_fleet, real_crontab):
    fleet = make_fleet({"ezra": {}, "allegro": {}}).path
    assert cron_checks(fleet) == {("ezra", "WARN"), ("allegro", "WARN")}
    r = CliRunner().invoke(cli, ["cron", "install", "--fleet", fleet])
    assert r.exit_code == 0, r.output
    assert cron_checks(fleet) == {("ezra", "OK"), ("allegro", "OK")}
    # fleet.yaml's schedule changes; the crontab keeps the old lines until reinstalled
    with open(fleet) as f:
        doc = json.load(f)  # the fixture writes fleet.yaml as JSON, which is YAML
    doc["wizards"]["ezra"]["schedule"] = {"dispatch": "*/5 * * * *"}
    with open(fleet, "w") as f:
        json.dump(doc, f)
    assert cron_checks(fleet) == {("ezra", "WARN"), ("allegro", "OK")}
    r = CliRunner().invoke(cli, ["doctor", "--fleet", fleet])
    assert "WARN  ezra: cron: the crontab's lines differ from fleet.yaml's schedule\n" in r.output
    assert "fix: run 'robe cron install' again to bring them in step" in r.output
    CliRunner().invoke(cli, ["cron", "remove", "--fleet", fleet])
    assert cron_checks(fleet) == {("ezra", "WARN"), ("allegro", "WARN")}
