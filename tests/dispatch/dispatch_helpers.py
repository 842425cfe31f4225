"""Helpers for the dispatcher's tests: a fleet on a tmp folder, its claims and events."""

from __future__ import annotations

import json
import os

from ..support import VENV_BIN, bin_path, read, write, write_fleet  # noqa: F401  (the tests import them from here)


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


