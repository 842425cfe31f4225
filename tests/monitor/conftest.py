"""Fixtures for the monitor's tests."""

from __future__ import annotations

import pytest

from .helpers import queue_text, write, write_fleet


class Setup:
    def __init__(self, root, fleet_path, qpath):
        self.root, self.fleet_path, self.qpath = root, fleet_path, qpath

    def fleet(self):
        from robe.fleet.config import load_fleet

        return load_fleet(self.fleet_path)

    def house(self, name="ezra"):
        return self.root / name

    def dispatch(self, wizards=None, **kw):
        from robe.dispatch import dispatch

        out, err = [], []
        kw.setdefault("gateway", False)
        rep = dispatch(self.fleet(), wizards, out=out.append, err=err.append, **kw)
        assert not rep.errors, rep.errors
        return rep

    def monitor(self, wizards=None, **kw):
        from robe.monitor import monitor

        out, err = [], []
        rep = monitor(self.fleet(), wizards, out=out.append, err=err.append, **kw)
        rep.out, rep.err = out, err
        return rep


@pytest.fixture
def one_wizard(tmp_path):
    """Wizard ezra (max_active 10, max_attempts 3, lease 600) with its own queue of 3 PENDING tasks."""
    fleet = write_fleet(tmp_path, {"ezra": {"max_active": 10}})
    qpath = write(tmp_path / "ezra" / "WORK-QUEUE.md", queue_text(3))
    return Setup(tmp_path, fleet, qpath)
