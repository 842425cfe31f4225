"""robe execute: the thin command over the Executor."""

from __future__ import annotations

import json

from click.testing import CliRunner

from robe.cli import cli

from .conftest import drop_claim, outcome


def test_once_runs_every_claim_and_prints_a_line_each(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}}, bezalel={"agent": {"kind": "echo"}})
    drop_claim(fleet.wizard("ezra"), "TASK-001")
    drop_claim(fleet.wizard("bezalel"), "TASK-002")
    r = CliRunner().invoke(cli, ["execute", "--once", "--fleet", fleet.path, "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = sorted(r.output.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith("bezalel  TASK-002  COMPLETE  ") and lines[1].startswith("ezra  TASK-001  COMPLETE  ")


def test_once_json_for_one_wizard(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}}, bezalel={"agent": {"kind": "echo"}})
    drop_claim(fleet.wizard("ezra"), "TASK-001")
    drop_claim(fleet.wizard("bezalel"), "TASK-002")
    r = CliRunner().invoke(cli, ["execute", "--once", "--wizard", "ezra", "--json", "--fleet", fleet.path],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [(o["id"], o["status"]) for o in data] == [("TASK-001", "COMPLETE")]
    assert outcome(fleet.wizard("bezalel"), "TASK-002") is None


def test_nothing_to_do_is_success(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    r = CliRunner().invoke(cli, ["execute", "--once", "--fleet", fleet.path, "-q"], catch_exceptions=False)
    assert r.exit_code == 0 and r.output == "no claims to run\n"


def test_an_unknown_wizard_is_one_sentence_and_exit_1(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    r = CliRunner().invoke(cli, ["execute", "--once", "--wizard", "ezar", "--fleet", fleet.path])
    assert r.exit_code == 1
    assert "there is no wizard named 'ezar' (did you mean 'ezra'?)" in r.output


def test_bad_intervals_are_refused(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    r = CliRunner().invoke(cli, ["execute", "--once", "--scan-interval", "0", "--fleet", fleet.path])
    assert r.exit_code == 1 and "--scan-interval must be more than 0 seconds" in r.output


def test_help_says_what_it_does():
    r = CliRunner().invoke(cli, ["execute", "--help"])
    assert r.exit_code == 0 and "work/<ID>.active" in r.output
