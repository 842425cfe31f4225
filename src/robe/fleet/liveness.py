"""Is a wizard's executor alive? Its heartbeat file, its pid and this host.

Apart from 'robe status' so that openclaw-work, which asks this on every run, imports no
more than it needs.
"""

from __future__ import annotations

import datetime as _dt
import os

from ..queue.events import now, parse_stamp
from ..records import record
from .config import Wizard

#: an executor whose heartbeat is older than this is taken for dead
HEARTBEAT_STALE_S = 30.0


class Executor(record("Executor", "alive pid detail")):
    __slots__ = ()
    # Fields:
    #   alive: bool
    #   pid: int | None
    #   detail: str

    def to_dict(self) -> dict:
        return {"alive": self.alive, "pid": self.pid, "detail": self.detail}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:][:1] != b"Z"
    except OSError:
        return True


def executor_liveness(w: Wizard, *, at: _dt.datetime | None = None, stale_after: float = HEARTBEAT_STALE_S) -> Executor:
    """Alive = written on this host, its pid alive, and a heartbeat younger than ``stale_after``."""
    try:
        with open(w.executor_file, encoding="utf-8") as f:
            raw = f.read()
        import json  # only when an executor has run: most dispatch runs of a fresh house need not

        d = json.loads(raw)
    except FileNotFoundError:
        return Executor(False, None, "no executor has run")
    except (OSError, ValueError):
        return Executor(False, None, f"{w.executor_file} is unreadable")
    if not isinstance(d, dict):
        return Executor(False, None, f"{w.executor_file} is unreadable")
    pid = d.get("pid") if isinstance(d.get("pid"), int) else None
    host = d.get("host")
    if host and host != os.uname().nodename:
        return Executor(False, pid, f"last seen on host {host}, not this one")
    if pid is None or not _pid_alive(pid):
        return Executor(False, pid, f"pid {pid} is gone" if pid else "no pid recorded")
    beat = parse_stamp(d.get("heartbeat_at"))
    if beat is None:
        return Executor(False, pid, "no heartbeat recorded")
    age = ((at or now()) - beat).total_seconds()
    if age > stale_after:
        return Executor(False, pid, f"pid {pid} last beat {age:.0f} s ago")
    return Executor(True, pid, f"pid {pid}, beat {max(age, 0):.0f} s ago")
