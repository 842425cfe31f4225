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


def test_version_imports_nothing_heavy():
    code = ("import sys; from robe.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('git', 'watchdog', 'mistune', 'yaml', 'robe.queue') if m in sys.modules]\n"
            "print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.splitlines() == [f"robe {__version__}", ""]  # the second line lists heavy modules: none


def test_a_short_option_is_matched_without_difflib_and_a_typo_still_gets_a_suggestion(tmp_path):
    (tmp_path / "Q.md").write_text("- [ ] TASK-1 P1 PENDING one\n")
    code = ("import sys; from robe.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('difflib' in sys.modules)\n")
    short = subprocess.run([sys.executable, "-c", code, "queue", "list", "-f", "Q.md"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert "TASK-1" in short.stdout and short.stdout.strip().endswith("False"), short.stdout + short.stderr
    typo = subprocess.run([sys.executable, "-c", code, "queue", "list", "--fil", "Q.md"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert "No such option" in typo.stderr and "Did you mean" in typo.stderr and "--file" in typo.stderr, typo.stderr
    unknown = CliRunner().invoke(cli, ["queue", "list", "-z"])
    assert unknown.exit_code == 2 and "No such option" in unknown.output and "-z" in unknown.output
