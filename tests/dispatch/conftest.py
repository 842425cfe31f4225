"""Fixtures for the dispatcher's tests."""

from __future__ import annotations

import pytest


class Run:
    def __init__(self, report, out, err):
        self.report, self.out, self.err = report, out, err


@pytest.fixture
def dispatch_run(tmp_path, monkeypatch):
    """Call the library as the CLI does, from the test's folder (so a dispatch line names its
    queue relative to it); returns Run(report, stdout lines, stderr lines)."""
    monkeypatch.chdir(tmp_path)
    from robe.dispatch import dispatch
    from robe.fleet.config import load_fleet

    def go(fleet_path, wizards=None, **kwargs):
        out, err = [], []
        kwargs.setdefault("gateway", True)
        report = dispatch(load_fleet(str(fleet_path)), wizards, out=out.append, err=err.append, **kwargs)
        return Run(report, out, err)
    return go
