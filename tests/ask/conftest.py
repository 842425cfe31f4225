"""Fixtures for the asking tests: a fleet of echo wizards in a tmp folder, with their houses."""

from __future__ import annotations

import os

import pytest

from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house

from ..support import write_fleet


def make_fleet(root, wizards=("ezra", "allegro", "bob", "carol", "dave"), extra: str = "", **settings):
    """A fleet of echo wizards with their houses (and empty queues); ``settings``: name -> dict."""
    spec = {name: dict(settings.get(name, {})) for name in wizards}
    path = write_fleet(root, spec, extra=extra)
    fleet = load_fleet(path)
    for w in fleet.wizards:
        ensure_house(fleet, w)
    return fleet


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.delenv("ROBE_WIZARD", raising=False)
    monkeypatch.delenv("ROBE_TASK_ID", raising=False)
    return make_fleet(tmp_path)


def queue_text(fleet, name: str) -> str:
    with open(fleet.wizard(name).queue, encoding="utf-8") as f:
        return f.read()


def claim_path(fleet, name: str, task_id: str) -> str:
    return os.path.join(fleet.wizard(name).house, "work", f"{task_id}.active")
