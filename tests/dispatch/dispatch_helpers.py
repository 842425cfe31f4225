"""Helpers for the dispatcher's tests: a fleet on a tmp folder, its claims and events."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap

VENV_BIN = os.path.dirname(sys.executable)


def bin_path(name: str) -> str:
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name) or path
    return path


def write_fleet(root, wizards: dict, routes=None, default=None, extra: str = "") -> str:
    """fleet.yaml in ``root``; ``wizards`` maps name -> dict of settings (port added if missing)."""
    lines = ["root: .", "ports: {first: 20000, last: 20999}"]
    if default:
        lines.append(f"default_wizard: {default}")
    lines.append("wizards:")
    for i, (name, settings) in enumerate(wizards.items()):
        lines.append(f"  {name}:")
        settings = dict(settings)
        settings.setdefault("port", 20000 + i)
        settings.setdefault("agent", "echo")
        for k, v in settings.items():
            lines.append(f"    {k}: {json.dumps(v)}")
    if routes:
        lines.append("routes:")
        for match, wizard in routes:
            lines.append(f"  - match: {json.dumps(match)}")
            lines.append(f"    wizard: {wizard}")
    os.makedirs(str(root), exist_ok=True)
    path = os.path.join(str(root), "fleet.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)
    return path


def write(path, text: str) -> str:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))
    return path


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def claims_in(house) -> list[str]:
    work = os.path.join(str(house), "work")
    if not os.path.isdir(work):
        return []
    return sorted(n[:-7] for n in os.listdir(work) if n.endswith(".active"))


def events(house) -> list[dict]:
    path = os.path.join(str(house), "logs", "events.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


