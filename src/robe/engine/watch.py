"""What robe run watches, and what each event asks of its loop.

- A WORK-QUEUE.md (its folder is watched: editors replace the file). A finished save (closed
  after writing, or renamed into place) is read at once and tells the parse cache so
  (``Snapshots.settled``); a write still going on (created, modified, not yet closed) is read
  once the file has been quiet for the cache's quiet time. robe's own writes are settled by the
  writer, not by their events. Robe's own writes are told apart by the
  loop (``Snapshots.own``) and wake no dispatch.
- ``completed/`` of each wizard: a result another executor (``robe execute``, a cron-started
  one) left there is folded in at once.
- fleet.yaml: reloaded when it changes.

The observer thread only records what it saw and wakes the loop; all the work is the loop's.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from watchdog.events import (FileClosedEvent, FileCreatedEvent, FileModifiedEvent, FileMovedEvent,
                             FileSystemEventHandler)

from ..plumbing import observer

log = logging.getLogger("robe.run")
#: the events asked of the kernel (inotify's mask): a folder where robe and its agents write
#: thousands of files a minute must not cost an event for each open, read and attribute change
SAVES = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent]
RESULTS = [FileCreatedEvent, FileMovedEvent, FileClosedEvent]


def _robes_temp(src, queue: str) -> bool:
    """Whether a rename over ``queue`` came from robe's own writer (its temp file is
    ``.<name>.<pid>.<n>.tmp`` beside it: robe.queue.store). robe's writes are settled by the
    writer itself, and only while the file is still what it wrote (``Snapshots.wrote``): the
    event, handled a moment later, must not make an editor's in-place save begun meanwhile count
    as finished."""
    name = os.path.basename(os.fsdecode(src))
    return name.startswith(f".{os.path.basename(queue)}.") and name.endswith(".tmp")


class Watch(FileSystemEventHandler):
    def __init__(self, queues: dict[str, list[str]], completed: dict[str, str], fleet_file: str, snapshots,
                 wake: threading.Event, debounce: float = 0.0):
        self.queues = queues          # real queue path -> wizards reading it
        self.completed = completed    # real completed/ folder -> wizard
        self.fleet_file = fleet_file  # real path of fleet.yaml
        self.snapshots = snapshots
        self.wake = wake
        self.debounce = debounce
        self._lock = threading.Lock()
        self._saves: dict[str, float] = {}  # queue path -> monotonic time to read it
        self._results: set[tuple[str, str]] = set()  # (wizard, result file)
        self._fleet = False
        self.observer = None
        self._watches: dict[str, object] = {}

    # -- the observer's side
    def on_any_event(self, event):
        if event.is_directory:
            return
        kind = event.event_type
        path = os.fsdecode(event.dest_path if kind == "moved" else event.src_path)
        if path in self.queues:
            if kind == "closed" or (kind == "moved" and not _robes_temp(event.src_path, path)):
                self.snapshots.settled(path)
                self._save(path, self.debounce)
            elif kind == "moved":  # robe's writer (this or another robe process): read at once;
                self._save(path, self.debounce)  # the read knows robe's writes (displaced index)
            else:  # still being written (a file created is empty until written), or unknown
                self._save(path, self.snapshots.quiet)
            return
        folder, base = os.path.split(path)
        if folder in self.completed:
            if kind in ("created", "moved", "closed") and not base.startswith(".") and base.endswith(".json"):
                with self._lock:
                    self._results.add((self.completed[folder], path))
                self.wake.set()
        elif path == self.fleet_file and kind in ("closed", "moved", "created", "modified"):
            with self._lock:
                self._fleet = True
            self.wake.set()

    def _save(self, path: str, delay: float) -> None:
        t = time.monotonic() + delay
        with self._lock:
            self._saves[path] = min(self._saves.get(path, t), t)
        self.wake.set()

    # -- the loop's side
    def take(self) -> tuple[list[str], set[tuple[str, str]], bool]:
        """The queue files whose save is due, the new results in completed/ (wizard, file), and
        whether fleet.yaml changed; each is handed out once."""
        mono = time.monotonic()
        with self._lock:
            due = [p for p, t in self._saves.items() if t <= mono]
            for p in due:
                del self._saves[p]
            results, self._results = self._results, set()
            fleet, self._fleet = self._fleet, False
        return due, results, fleet

    def next_due(self) -> float | None:
        with self._lock:
            return min(self._saves.values()) if self._saves else None

    def start(self) -> None:
        self.observer = observer()
        saves = {os.path.dirname(q) for q in self.queues} | {os.path.dirname(self.fleet_file)}
        for folder in sorted(saves | set(self.completed)):
            self.schedule(folder, SAVES if folder in saves else RESULTS)
        self.observer.start()

    def schedule(self, folder: str, events=RESULTS) -> None:
        """Watch ``folder`` for ``events`` (again: after it was deleted and recreated)."""
        old = self._watches.pop(folder, None)
        if old is not None:
            try:
                self.observer.unschedule(old)
            except (KeyError, OSError):
                pass
        try:
            self._watches[folder] = self.observer.schedule(self, folder, recursive=False, event_filter=events)
        except OSError as e:
            log.warning("cannot watch %s: %s (the schedule still runs)", folder, e.strerror or e)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            try:
                self.observer.join(2.0)
            except RuntimeError:
                pass
