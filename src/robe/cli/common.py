"""Options and output helpers shared by robe's commands, so a flag means the same everywhere."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from ..errors import RobeError


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")(f)


def fleet_option(f):
    return click.option("--fleet", "fleet_path", metavar="PATH",
                        help="The fleet.yaml (default: $ROBE_FLEET, else the nearest fleet.yaml in this "
                             "folder or above).")(f)


def complete_wizards(ctx, _param, incomplete: str) -> list[str]:
    """Shell completion of a wizard's name: the wizards of the fleet.yaml the command would use."""
    from ..fleet.config import load_fleet  # (only when the shell asks: robe --help stays light)

    try:
        fleet = load_fleet(ctx.params.get("fleet_path"))
    except (RobeError, OSError):
        return []
    return [n for n in fleet.names if n.startswith(incomplete)]


def wizards_option(f):
    return click.option("--wizard", "-w", "wizards", multiple=True, metavar="NAME", shell_complete=complete_wizards,
                        help="Only this wizard (repeatable; default: every wizard).")(f)


def wizard_option(help_text: str):
    """-w/--wizard W: one wizard (the commands that read a task or a queue of one wizard)."""
    return click.option("--wizard", "-w", "wizard_name", metavar="W", shell_complete=complete_wizards,
                        help=help_text)


def file_option(f):
    return click.option(
        "-f", "--file", "path", default="WORK-QUEUE.md", envvar="ROBE_QUEUE", show_default=True,
        metavar="PATH", help="The queue file (or set ROBE_QUEUE).",
    )(f)


def sentence(e: OSError) -> str:
    """An OSError the library did not turn into a sentence, as one line."""
    return f"{e.strerror or e}{': ' + e.filename if e.filename else ''}"


def plain_errors(f):
    """RobeError and OSError as one sentence and exit 1, also when a command runs outside the
    root group (the seed's openclaw-work, task-monitor and progress-report)."""
    @functools.wraps(f)
    def run(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except RobeError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(sentence(e)) from None
    return run


def err(line: str) -> None:
    click.echo(line, err=True)


def quiet(_line: str) -> None:
    pass


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Rows as aligned columns; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    out = []
    for r in [headers] + rows:
        cells = [str(c).ljust(widths[i]) if i < len(r) - 1 else str(c) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 0


def examples(*lines: str) -> str:
    """A command's epilog: one or two example command lines, shown last in its --help."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
