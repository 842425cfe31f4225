"""The house files the monitor reads and moves: claims, heartbeats, results and their archives.

Names follow docs/contracts.md exactly: a claim ``work/<ID>.active`` goes to
``work/archive/<ID>.<attempt>.active``, a result ``completed/<ID>.txt`` / ``.json`` to
``completed/archive/<ID>.<attempt>.txt`` / ``.json``. Moves are ``link`` + ``unlink`` and never
replace a file already in an archive; a move interrupted between the two steps is finished by
the next run (same inode), not copied twice. Every path comes from a validated task ID.
"""

from __future__ import annotations

import json
import os
import re

from ..queue import is_valid_id
from ..records import record

_ARCHIVED_CLAIM_RE = re.compile(r"\A([A-Z][A-Z0-9]*-[0-9]+)\.([0-9]{1,9})\.active\Z")
MAX_JSON = 1 << 20


class Listing(record("Listing", "work completed work_names completed_names")):
    """One look at a house: what is in work/ and completed/ (names only)."""

    __slots__ = ()
    # Fields:
    #   work: str
    #   completed: str
    #   work_names: frozenset
    #   completed_names: frozenset

    @property
    def claims(self) -> list[str]:
        return sorted(n[:-7] for n in self.work_names
                      if n.endswith(".active") and not n.startswith(".") and is_valid_id(n[:-7]))

    @property
    def results(self) -> list[str]:
        """IDs with a ``.txt`` or ``.json`` in completed/."""
        ids = set()
        for n in self.completed_names:
            stem, dot, ext = n.rpartition(".")
            if dot and ext in ("txt", "json") and is_valid_id(stem):
                ids.add(stem)
        return sorted(ids)


def _listdir(path: str) -> frozenset:
    try:
        return frozenset(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


def look(house: str) -> Listing:
    work, completed = os.path.join(house, "work"), os.path.join(house, "completed")
    return Listing(work, completed, _listdir(work), _listdir(completed))


def read_json(path: str) -> dict | None:
    """A JSON object from ``path``; None when missing, unreadable, or not an object."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(MAX_JSON))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def positive_int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def archived_attempts(work: str) -> dict[str, int]:
    """The highest archived claim attempt per task (the dispatcher's next attempt is this + 1)."""
    out: dict[str, int] = {}
    for n in _listdir(os.path.join(work, "archive")):
        m = _ARCHIVED_CLAIM_RE.match(n)
        if m and int(m.group(2)) > out.get(m.group(1), 0):
            out[m.group(1)] = int(m.group(2))
    return out


def _private_dir(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def move_keep(src: str, folder: str, stem: str, ext: str) -> str | None:
    """Move ``src`` into ``folder`` as ``stem+ext`` (or ``stem.N+ext`` if taken); None if ``src`` is gone."""
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return None
    _private_dir(folder)
    n = 0
    while True:
        name = f"{stem}{ext}" if n == 0 else f"{stem}.{n}{ext}"
        dst = os.path.join(folder, name)
        try:
            os.link(src, dst, follow_symlinks=False)
            break
        except FileExistsError:
            try:
                if os.lstat(dst).st_ino == st.st_ino and os.lstat(dst).st_dev == st.st_dev:
                    break  # an earlier run linked it and died before the unlink: finish that move
            except FileNotFoundError:
                continue
            n += 1
        except FileNotFoundError:
            return None  # someone else moved it meanwhile
    try:
        os.unlink(src)
    except FileNotFoundError:
        pass
    return dst


def fsync_dir(folder: str) -> None:
    """robe.queue's fsync of a folder; a folder that is gone needs none."""
    from ..queue import fsync_dir as _fsync

    try:
        _fsync(folder)
    except FileNotFoundError:
        pass


def archive_claim(work: str, task_id: str, attempt: int, sync: bool = True) -> list[str]:
    """``work/<ID>.active`` (and its heartbeat) to ``work/archive/<ID>.<attempt>.*``.

    With ``sync`` False the caller fsyncs the folders once for many moves (a move lost to a
    power cut is only redone by the next run: the moves are idempotent).
    """
    if not is_valid_id(task_id):
        raise ValueError(f"{task_id!r} is not a task ID")
    archive = os.path.join(work, "archive")
    moved = [move_keep(os.path.join(work, f"{task_id}.active"), archive, f"{task_id}.{attempt}", ".active"),
             move_keep(os.path.join(work, f"{task_id}.heartbeat"), archive, f"{task_id}.{attempt}", ".heartbeat")]
    if sync:
        fsync_dir(work)
        fsync_dir(archive)
    return [p for p in moved if p]


def archive_result(completed: str, task_id: str, attempt: int, sync: bool = True) -> list[str]:
    """``completed/<ID>.txt`` and ``.json`` to ``completed/archive/<ID>.<attempt>.*`` (.json last)."""
    if not is_valid_id(task_id):
        raise ValueError(f"{task_id!r} is not a task ID")
    archive = os.path.join(completed, "archive")
    moved = [move_keep(os.path.join(completed, f"{task_id}{ext}"), archive, f"{task_id}.{attempt}", ext)
             for ext in (".txt", ".json")]
    if sync:
        fsync_dir(completed)
        fsync_dir(archive)
    return [p for p in moved if p]
