"""Helpers for the monitor's tests: a fleet on a tmp folder, claims made by the real dispatcher,
results written as the executor writes them."""

from __future__ import annotations

import datetime as dt
import json
import os

from .. import support
from ..support import VENV_BIN, read, write  # noqa: F401  (the tests import them from here)

T0 = dt.datetime(2026, 11, 22, 6, 0, 0, tzinfo=dt.timezone.utc)


def bin_path(name: str) -> str:
    return os.path.join(VENV_BIN, name)


def write_fleet(root, wizards: dict, extra: str = "", default: str | None = None) -> str:
    return support.write_fleet(root, wizards, default=default, extra=extra, ports=(21000, 21999))


def queue_text(n: int, status: str = "PENDING", start: int = 1) -> str:
    return "# Queue\n\n" + "".join(f"### TASK-{i:03d}: Task {i}\n- Priority: P1\n- Status: {status}\n\nBody {i}.\n\n"
                                   for i in range(start, start + n))


def events(house) -> list[dict]:
    path = os.path.join(str(house), "logs", "events.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def monitor_events(house) -> list[dict]:
    return [e for e in events(house) if str(e.get("by", "")).startswith("monitor:")]


def statuses(qpath) -> dict[str, str]:
    from robe.queue import load

    q = load(str(qpath))
    assert not q.errors, q.errors
    return {t.id: t.status.value for t in q.tasks}


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_result(house, tid: str, status: str = "COMPLETE", attempt: int = 1, error=None, answer: str = "done\n",
                 exit_code: int | None = 0) -> None:
    """completed/<ID>.txt then .json, as robe execute writes them."""
    from robe.house import House

    h = House(str(house))
    os.makedirs(h.completed, exist_ok=True)
    outcome = {"id": tid, "wizard": h.wizard, "attempt": attempt, "status": status, "exit_code": exit_code,
               "error": error, "agent": "echo", "started_at": stamp(T0), "finished_at": stamp(T0),
               "duration_s": 0.1, "truncated": False}
    h.write_result(tid, answer.encode(), outcome)


def age(path, moment: dt.datetime, seconds: float) -> None:
    """Set ``path``'s mtime to ``seconds`` before ``moment``."""
    t = moment.timestamp() - seconds
    os.utime(str(path), (t, t))


def ls(folder) -> list[str]:
    folder = str(folder)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
