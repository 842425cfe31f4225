"""A real redis-server for the broker tests (Debian's package; .ci/run installs it): started on a
free loopback port, append-only, in its own temp folder. No fake Redis: a test that cannot start
one fails and says why."""

from __future__ import annotations

import json
import os

import pytest

from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house

from ..support import free_port
from .hosts import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(str(tmp_path / "redis")).start()
    try:
        yield server
    finally:
        server.close()


def write_fleet(folder, doc: dict, *, build: bool = True):
    """fleet.yaml in ``folder`` (JSON is YAML) and, with ``build``, the houses it names on this
    "machine" (every house on the hub; only its own wizards' elsewhere)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(str(folder), "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    fleet = load_fleet(path)
    if build:
        for w in fleet.wizards:
            if fleet.host == fleet.hub or fleet.runs_here(w):
                ensure_house(fleet, w)
    return fleet


def hub_doc(url: str | None, wizards: dict, **top) -> dict:
    """A hub's fleet: ``wizards`` name -> settings (an echo agent unless given)."""
    doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, "host": "hub", "wizards": {}}
    if url:
        doc["broker"] = url
    for name, settings in wizards.items():
        entry = {"port": free_port(), "agent": "echo"}
        entry.update(settings)
        doc["wizards"][name] = entry
    doc.update(top)
    return doc
