"""robe's one clock: every module reads the time through ``now()`` (tests freeze it with
freezegun) and writes it with ``stamp()``."""

from __future__ import annotations

import datetime as _dt


def now() -> _dt.datetime:
    """The current time, in UTC."""
    return _dt.datetime.now(_dt.timezone.utc)


def stamp(moment: _dt.datetime | None = None) -> str:
    """``2026-11-22T06:00:00.000Z``: how robe writes a time in its files."""
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
