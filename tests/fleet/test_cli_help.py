"""Every fleet command has help text, and the fleet code stays out of 'robe --version'."""

from __future__ import annotations


import pytest

from robe.cli import cli

COMMANDS = [
    ["init"], ["wizard"], ["wizard", "create"], ["wizard", "list"], ["wizard", "show"], ["wizard", "remove"],
    ["gateway"], ["gateway", "start"], ["gateway", "stop"], ["gateway", "status"], ["status"], ["doctor"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help(runner, args):
    r = runner.invoke(cli, args + ["--help"], catch_exceptions=False)
    assert r.exit_code == 0
    assert r.output.startswith(f"Usage: cli {' '.join(args)}") or r.output.startswith("Usage: ")
    body = r.output.split("\n\n", 2)[1].strip()
    assert len(body) > 20, r.output  # a real sentence, not an empty docstring
    if args[-1] not in ("wizard", "gateway"):
        assert "--fleet PATH" in r.output


def test_root_help_lists_the_fleet_commands(runner):
    out = runner.invoke(cli, ["--help"]).output
    for name in ("init", "wizard", "gateway", "status", "doctor"):
        assert f"  {name} " in out


def test_usage_errors_exit_2(runner):
    assert runner.invoke(cli, ["wizard", "create"]).exit_code == 2
    assert runner.invoke(cli, ["wizard", "create", "x", "--agent", "gpt"]).exit_code == 2
    assert runner.invoke(cli, ["status", "--bogus"]).exit_code == 2
