"""Helpers for the monitor's tests: a fleet on a tmp folder, claims made by the real dispatcher,
results written as the executor writes them."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import textwrap

VENV_BIN = os.path.dirname(sys.executable)
T0 = dt.datetime(2026, 11, 22, 6, 0, 0, tzinfo=dt.timezone.utc)


def bin_path(name: str) -> str:
    return os.path.join(VENV_BIN, name)


def write_fleet(root, wizards: dict, extra: str = "", default: str | None = None) -> str:
    lines = ["root: .", "ports: {first: 21000, last: 21999}"]
    if default:
        lines.append(f"default_wizard: {default}")
    lines.append("wizards:")
    for i, (name, settings) in enumerate(wizards.items()):
        lines.append(f"  {name}:")
        settings = dict(settings)
        settings.setdefault("port", 21000 + i)
        settings.setdefault("agent", "echo")
        for k, v in settings.items():
            lines.append(f"    {k}: {json.dumps(v)}")
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
    from robe.execute.claims import House, write_result as wr

    h = House.of(os.path.basename(str(house)), str(house))
    os.makedirs(h.completed, exist_ok=True)
    outcome = {"id": tid, "wizard": h.wizard, "attempt": attempt, "status": status, "exit_code": exit_code,
               "error": error, "agent": "echo", "started_at": stamp(T0), "finished_at": stamp(T0),
               "duration_s": 0.1, "truncated": False}
    wr(h, tid, answer.encode(), outcome)


def age(path, moment: dt.datetime, seconds: float) -> None:
    """Set ``path``'s mtime to ``seconds`` before ``moment``."""
    t = moment.timestamp() - seconds
    os.utime(str(path), (t, t))


def ls(folder) -> list[str]:
    folder = str(folder)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
