"""Every robe command teaches: --help works and says something, for the whole command tree."""

import os
import shlex
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


def _examples(help_text: str) -> list[str]:
    """The example lines an --help ends with ('Examples:' then indented command lines)."""
    head, sep, tail = help_text.rstrip().rpartition("\n  Examples:\n")
    assert sep, "no 'Examples:' section at the end"
    lines = tail.split("\n")
    assert all(line.startswith("    ") for line in lines), tail
    return [line.strip() for line in lines]


def _parses(example: str) -> None:
    """The example is a robe command click accepts: each word through the command tree, then
    the last command's own parser (unknown options, missing arguments and bad values fail)."""
    words = shlex.split(example.split(" | ")[-1])
    assert words[0] == "robe", example
    cmd, args, path = cli, words[1:], ["robe"]
    ctx = click.Context(cli, info_name="robe")
    while isinstance(cmd, click.Group):
        name, args = args[0], args[1:]
        cmd = cmd.get_command(ctx, name)
        assert cmd is not None, f"{example}: no command {name!r}"
        path.append(name)
    cmd.make_context(" ".join(path), list(args), resilient_parsing=False)


def test_every_commands_help_ends_with_one_or_two_examples_that_parse():
    ctx = click.Context(cli)
    for path, cmd in [((), cli)] + list(walk(cli, ctx)):
        r = CliRunner().invoke(cli, list(path) + ["--help"])
        assert r.exit_code == 0, (path, r.output)
        examples = _examples(r.output)
        assert 1 <= len(examples) <= 2, (path, examples)
        for ex in examples:
            assert "robe " + " ".join(path) in ex, f"robe {' '.join(path)} shows an example of another command: {ex}"
            _parses(ex)


def test_shell_completion_through_robe_complete():
    env = dict(os.environ, _ROBE_COMPLETE="bash_complete", COMP_WORDS="robe qu", COMP_CWORD="1")
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "robe")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.split() == ["plain,queue"]
    env.update(_ROBE_COMPLETE="bash_source")
    script = subprocess.run([os.path.join(os.path.dirname(sys.executable), "robe")], env=env, capture_output=True,
                            text=True, timeout=60).stdout
    assert "_robe_completion()" in script and "complete -o nosort -F _robe_completion robe" in script
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        readme = f.read()
    assert 'eval "$(_ROBE_COMPLETE=bash_source robe)"' in readme


def test_wizard_names_complete_from_the_fleet(tmp_path):
    (tmp_path / "fleet.yaml").write_text("root: .\nports: {first: 20700, last: 20710}\nwizards:\n"
                                         "  ezra: {port: 20700, agent: echo}\n  allegro: {port: 20701, agent: echo}\n")
    robe = os.path.join(os.path.dirname(sys.executable), "robe")
    for words, cword in (("robe dispatch -w a", "3"), ("robe wizard show a", "3")):
        env = dict(os.environ, _ROBE_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=cword)
        env.pop("ROBE_FLEET", None)
        r = subprocess.run([robe], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert r.stdout.split() == ["plain,allegro"], (words, r.stdout, r.stderr)


def test_every_option_that_names_a_wizard_is_also_dash_w():
    missing = [" ".join(path) for path, cmd in walk(cli, click.Context(cli)) for o in cmd.params
               if isinstance(o, click.Option) and "--wizard" in o.opts and "-w" not in o.opts]
    assert missing == []
