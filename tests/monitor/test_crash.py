"""A monitor stopped at any step and run again loses nothing and applies nothing twice."""

from __future__ import annotations

import pytest

import robe.house as fs
import robe.monitor as reconcile

from .helpers import ls, monitor_events, statuses, write_result


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even except-Exception handlers)."""


def setup_three(s):
    s.dispatch()
    house = s.house()
    write_result(house, "TASK-001")
    write_result(house, "TASK-002", "FAILED", error="boom", exit_code=1)
    write_result(house, "TASK-003", "RETRY", error="rate-limited", exit_code=75)
    return house


EXPECTED = {"TASK-001": "COMPLETE", "TASK-002": "PENDING", "TASK-003": "PENDING"}


def check_whole(s, house):
    assert statuses(s.qpath) == EXPECTED
    evs = monitor_events(house)
    assert sorted((e["task"], e["to"]) for e in evs if e["event"] in ("result", "retry")) == sorted(EXPECTED.items())
    assert ls(house / "work") == ["archive"]
    assert ls(house / "work" / "archive") == ["TASK-001.1.active", "TASK-002.1.active", "TASK-003.1.active"]
    assert ls(house / "completed") == ["archive"]
    assert ls(house / "completed" / "archive") == sorted(f"TASK-00{i}.1.{x}" for i in (1, 2, 3) for x in ("json", "txt"))


@pytest.mark.parametrize("where", ["after-write", "after-first-event", "after-claim-move", "mid-link"])
def test_killed_between_steps_then_run_again(one_wizard, monkeypatch, where):
    s = one_wizard
    house = setup_three(s)
    calls = {"n": 0}

    if where == "after-write":
        def boom(*a, **k):
            raise Killed
        monkeypatch.setattr(reconcile, "append_event", boom)
    elif where == "after-first-event":
        real = reconcile.append_event

        def boom(*a, **k):
            calls["n"] += 1
            if calls["n"] == 2:
                raise Killed
            return real(*a, **k)
        monkeypatch.setattr(reconcile, "append_event", boom)
    elif where == "after-claim-move":
        def boom(*a, **k):
            raise Killed
        monkeypatch.setattr(fs.House, "archive_result", boom)
    else:  # the result's .txt linked into the archive but not yet unlinked
        real_unlink = fs.os.unlink

        def boom(path, *a, **k):
            if str(path).endswith("completed/TASK-001.txt"):
                raise Killed
            return real_unlink(path, *a, **k)
        monkeypatch.setattr(fs.os, "unlink", boom)
    with pytest.raises(Killed):
        s.monitor()
    monkeypatch.undo()
    assert statuses(s.qpath) == EXPECTED  # the queue write came first
    rep = s.monitor()
    assert rep.exit_code == 0
    check_whole(s, house)
    assert s.monitor().out == []  # and a third run has nothing left


def test_killed_before_the_write_changes_nothing(one_wizard, monkeypatch):
    s = one_wizard
    house = setup_three(s)

    def boom(*a, **k):
        raise Killed
    monkeypatch.setattr(reconcile, "_write", boom)
    with pytest.raises(Killed):
        s.monitor()
    monkeypatch.undo()
    assert set(statuses(s.qpath).values()) == {"IN_PROGRESS"}
    assert monitor_events(house) == []
    s.monitor()
    check_whole(s, house)
