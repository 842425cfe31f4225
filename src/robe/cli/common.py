"""Options and output helpers shared by robe's commands, so a flag means the same everywhere."""

from __future__ import annotations

import os
import sys

import click


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")(f)


def fleet_option(f):
    return click.option("--fleet", "fleet_path", metavar="PATH",
                        help="The fleet.yaml (default: $ROBE_FLEET, else the nearest fleet.yaml in this "
                             "folder or above).")(f)


def file_option(f):
    return click.option(
        "-f", "--file", "path", default="WORK-QUEUE.md", envvar="ROBE_QUEUE", show_default=True,
        metavar="PATH", help="The queue file (or set ROBE_QUEUE).",
    )(f)


def echo_json(data) -> None:
    import json  # only for --json: json's import is ~1 ms of every command

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
