"""Every robe command teaches: --help works and says something, for the whole command tree."""

import subprocess
import sys

import click
from click.testing import CliRunner

from robe import __version__
from robe.cli import cli


def walk(group, ctx, path=()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield path + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, ctx, path + (name,))


def test_every_command_has_help():
    ctx = click.Context(cli)
    seen = []
    for path, cmd in walk(cli, ctx):
        assert (cmd.help or cmd.short_help or "").strip(), f"robe {' '.join(path)} has no help text"
        r = CliRunner().invoke(cli, list(path) + ["--help"])
        assert r.exit_code == 0, (path, r.output)
        assert "Usage: " in r.output
        seen.append(" ".join(path))
    assert {"queue list", "queue show", "queue validate", "queue add", "queue set"} <= set(seen)


def test_version_as_a_process():
    r = subprocess.run([sys.executable, "-m", "robe", "--version"], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"robe {__version__}\n")
