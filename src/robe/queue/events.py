"""The event log: ``logs/events.jsonl`` beside a queue and in every house, one JSON line per
transition (ts, task, from, to, attempt, by, detail, and what else the writer adds).

Lines are appended with one ``write`` on an O_APPEND descriptor, so concurrent writers never
interleave within a line.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import stat
from typing import Iterator

from ..clock import stamp


def events_path(queue_path: str) -> str:
    """The log beside a queue file: ``logs/events.jsonl`` in the queue's folder."""
    return os.path.join(os.path.dirname(os.path.abspath(queue_path)), "logs", "events.jsonl")


def person() -> str:
    """Who a manual change is attributed to: ``person:user@host``."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (containers)
        user = os.environ.get("USER") or str(os.getuid())
    return f"person:{user}@{os.uname().nodename}"


def append_event(path: str, task: str | None, from_: str | None, to: str | None, *, by: str,
                 attempt: int | None = None, detail: str = "", **extra) -> dict:
    """Append one event line to the log at ``path`` (created 0700/0600 if missing)."""
    event = {"ts": stamp(), "task": task, "from": from_, "to": to, "attempt": attempt, "by": by, "detail": detail}
    event.update(extra)
    line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # Never through a symlink, never blocking on a pipe: only an ordinary file is a log.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "the event log is not an ordinary file", path)
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read_events(path: str) -> Iterator[dict]:
    """Events in order; a torn or foreign line is skipped."""
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event
