"""Parsed queue files, parsed again only when their bytes change.

A cron run reads each queue file once and exits, so it parses every time. ``robe run`` lives
for days and reads the same files after every result: it keeps one ``Snapshots`` and hands it
to dispatch and monitor, which then parse a file only when a person (or another robe process)
changed it. The bytes are compared, not the mtime: a save in the same clock tick with the
same size is still seen.

It also knows which saves are complete. The reader waits until a file is quiet before it
trusts it (``store.wait_quiet``: an editor that saves in place writes in pieces); robe run
sees inotify's close-after-write (or a rename into place) and tells the cache with
``settled``, so a finished save is read at once instead of two seconds later.
"""

from __future__ import annotations

import os
import threading
import time
from typing import NamedTuple

from . import displaced
from .model import DEFAULT_PRIORITY, QueueError, Snapshot
from .scan import parse
from .store import MAX_WAIT_S, QUIET_S, decode, read_bytes, real_path, wait_quiet


#: how often a wait for a quiet file looks whether robe run saw the save finish
STEP_S = 0.05


class _Entry(NamedTuple):
    default_priority: str
    snapshot: Snapshot


class Snapshots:
    """Queue files as last parsed, by real path (thread-safe; one parse per distinct content)."""

    def __init__(self, quiet: float = QUIET_S):
        self.quiet = quiet
        self._entries: dict[str, _Entry] = {}
        self._settled: dict[str, list[int]] = {}
        self._own: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._parsing = threading.Lock()
        #: why a file could not be read, by real path, until it can be again
        self.failures: dict[str, str] = {}
        #: files parsed (not served from memory): robe run's tests and benchmark count them
        self.parses = 0
        #: parses of robe's own writes derived instead of parsed (queue.derive)
        self.derived = 0

    def settled(self, path: str) -> None:
        """The file at ``path``, as it is now, is a finished save: read it without waiting."""
        target = real_path(path)
        try:
            sig = displaced.signature(os.stat(target))
        except OSError:
            return
        with self._lock:
            self._settled[target] = sig

    def wrote(self, path: str, sig: list[int], snapshot: Snapshot | None = None) -> None:
        """Robe itself (dispatch or monitor with this cache) wrote the file whose signature is
        ``sig`` (``set_statuses``' ``written``), and ``snapshot`` is its parse when the writer
        could derive it: the next read then parses nothing."""
        target = real_path(path)
        try:
            still = displaced.signature(os.stat(target)) == sig
        except OSError:
            still = False
        with self._lock:
            self._own[target] = sig
            if still:  # complete: read it without waiting (but a save that landed since, and
                self._settled[target] = sig  # that the watch has seen end, stays the settled one)
            if snapshot is not None:
                self._entries[target] = _Entry(snapshot.default_priority, snapshot)
                self.derived += 1

    def own(self, path: str) -> bool:
        """The file is, as it stands, the one robe last wrote through this cache: an event
        about it is robe's own write, not a person's save."""
        target = real_path(path)
        with self._lock:
            sig = self._own.get(target)
        try:
            return sig is not None and displaced.signature(os.stat(target)) == sig
        except OSError:
            return False

    def quiet_for(self, path: str) -> float:
        """How long the file must have been quiet before robe trusts it: 0 when it is a
        finished save (``settled``), else ``quiet``."""
        target = real_path(path)
        with self._lock:
            sig = self._settled.get(target)
        if sig is not None:
            try:
                if displaced.signature(os.stat(target)) == sig:
                    return 0.0
            except OSError:
                pass
        return self.quiet

    def read(self, path: str, default_priority: str = DEFAULT_PRIORITY) -> Snapshot:
        """The file's snapshot, once it is quiet; parsed only if its bytes changed since the
        last read (QueueError as ``store.load`` raises it)."""
        target = real_path(path)
        try:
            self._wait_quiet(path)
            data = read_bytes(path)
        except QueueError as e:
            with self._lock:
                self.failures[target] = str(e)
            raise
        with self._lock:
            self.failures.pop(target, None)
        hit = self._hit(target, data, default_priority)
        if isinstance(hit, Snapshot):
            return hit
        # One parse at a time: robe run's loop and its executor's cancel check read the same
        # save at once, and the second finds the first one's parse instead of making its own.
        with self._parsing:
            hit = self._hit(target, data, default_priority)
            if isinstance(hit, Snapshot):
                return hit
            # (a person's save is read from the last heading above what it changed: scan.parse)
            snapshot = parse(decode(data, path), path, default_priority=default_priority,
                             after=hit.snapshot if hit is not None else None)
            with self._lock:
                self.parses += 1
                self._entries[target] = _Entry(default_priority, snapshot)
        return snapshot

    def _hit(self, target: str, data: bytes, default_priority: str) -> Snapshot | _Entry | None:
        """The snapshot of ``data`` when it is the one kept, else the entry kept (or None)."""
        with self._lock:
            hit = self._entries.get(target)
        # (the text is encoded again rather than kept twice: a 100,000-task queue is 15 MiB)
        if hit is not None and hit.default_priority == default_priority and hit.snapshot.text.encode("utf-8") == data:
            return hit.snapshot
        return hit

    def _wait_quiet(self, path: str) -> None:
        """``wait_quiet``, ending as soon as robe run sees the save finish (``settled``) even
        when that happens during the wait."""
        end = time.monotonic() + MAX_WAIT_S
        while True:
            quiet = self.quiet_for(path)
            try:
                wait_quiet(path, quiet, max_wait=STEP_S)
                return
            except QueueError:
                if time.monotonic() >= end:
                    raise

    def cached(self, path: str) -> Snapshot | None:
        """The last snapshot read of the file, whatever the file holds now (None: never read)."""
        with self._lock:
            hit = self._entries.get(real_path(path))
        return hit.snapshot if hit is not None else None

    def forget(self, path: str) -> None:
        with self._lock:
            self._entries.pop(real_path(path), None)
            self._settled.pop(real_path(path), None)
            self._own.pop(real_path(path), None)
