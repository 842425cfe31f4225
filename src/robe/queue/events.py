"""The event log: ``logs/events.jsonl`` beside a queue, one JSON line per transition.

Lines are appended with one ``write`` on an O_APPEND descriptor, so concurrent writers never
interleave within a line.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Iterator

try:
    from _json import encode_basestring as _quote  # the C string escaper json.dumps itself uses
except ImportError:  # pragma: no cover - a Python without the C accelerator
    from json.encoder import py_encode_basestring as _quote


def to_json(value, compact: bool = True) -> str:
    """``json.dumps(value, ensure_ascii=False)`` (with ``separators=(",", ":")`` when compact)
    for robe's own records: dicts with str keys, lists, tuples, str, int, bool, None.

    Every cron run writes a claim and a few event lines; importing json for them cost ~2 ms
    of each run. Anything else (floats, other keys or types) goes to json itself, so the
    output is always json's (tests/queue/test_events.py compares them).
    """
    item, colon = (",", ":") if compact else (", ", ": ")

    def enc(v) -> str:
        if v.__class__ is str:
            return _quote(v)
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v.__class__ is int:
            return int.__repr__(v)
        if v.__class__ is dict:
            if not all(k.__class__ is str for k in v):
                raise _Other
            return "{" + item.join(_quote(k) + colon + enc(x) for k, x in v.items()) + "}"
        if v.__class__ in (list, tuple):
            return "[" + item.join(map(enc, v)) + "]"
        raise _Other

    try:
        return enc(value)
    except _Other:
        import json

        return json.dumps(value, ensure_ascii=False, separators=(item, colon))


class _Other(Exception):
    """A value to_json leaves to json."""


def now() -> _dt.datetime:
    """robe's one clock (UTC); tests freeze it with freezegun."""
    return _dt.datetime.now(_dt.timezone.utc)


def stamp(moment: _dt.datetime | None = None) -> str:
    return (moment or now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(value) -> _dt.datetime | None:
    """A time robe wrote (``stamp()``, or epoch seconds) as an aware UTC datetime; None if it
    is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def events_path(queue_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(queue_path)), "logs", "events.jsonl")


def person() -> str:
    """Who a manual change is attributed to: ``person:user@host``."""
    import pwd  # a C module: getpass and socket would add ~5 ms to every command

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
    line = (to_json(event) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read_events(path: str) -> Iterator[dict]:
    """Events in order; a torn or foreign line is skipped."""
    import json

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
