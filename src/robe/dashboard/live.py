"""Live pages: the fleet's files are watched (watchdog), and every open page hears what changed
through its WebSocket, then fetches its own part again.

A change is named by a topic, so a page refreshes only for what it shows:

| topic    | files                                                                 |
|----------|-----------------------------------------------------------------------|
| queue    | a WORK-QUEUE.md (saved by robe or by a person's editor)               |
| work     | claims in a house's work/                                             |
| results  | results in a house's completed/                                       |
| events   | logs/events.jsonl, logs/uptime.jsonl                                  |
| executor | logs/executor.json (the body's heartbeat), logs/gateway.pid           |

Events are gathered for ``DEBOUNCE`` seconds (a robe write is a burst of file events) and
then sent to every page at once. Folders that appear later or are made again (robe run
recreates a deleted work/) are watched again within ``RESCAN`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Callable

from watchdog.events import FileSystemEventHandler

from ..plumbing import observer

log = logging.getLogger(__name__)
DEBOUNCE = 0.02
RESCAN = 1.0
TOPICS = ("queue", "work", "results", "events", "executor")
_WANTED = ("created", "modified", "moved", "deleted", "closed")


class Hub:
    """The open pages' live feeds. ``changed`` may be called from any thread; the rest runs
    on the server's event loop."""

    def __init__(self):
        self.version = 0
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscriber] = set()
        self._pending: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def changed(self, topics) -> None:
        """Something changed (thread-safe): the pages hear of it after DEBOUNCE seconds."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.version += 1
            return
        try:
            loop.call_soon_threadsafe(self._mark, frozenset(topics))
        except RuntimeError:  # the loop closed meanwhile: the server is stopping
            pass

    def _mark(self, topics: frozenset) -> None:
        self._pending |= topics
        if self._timer is None:
            self._timer = self._loop.call_later(DEBOUNCE, self._flush)

    def _flush(self) -> None:
        self._timer = None
        topics, self._pending = self._pending, set()
        self.version += 1
        for s in list(self._subscribers):
            s.push(topics)

    def subscribe(self) -> "Subscriber":
        s = Subscriber()
        if self.closed:
            s.push(None)
        self._subscribers.add(s)
        return s

    def unsubscribe(self, s: "Subscriber") -> None:
        self._subscribers.discard(s)

    def close(self) -> None:
        """End every feed (the server is stopping); on the event loop."""
        self.closed = True
        for s in list(self._subscribers):
            s.push(None)


class Subscriber:
    """One open page's feed: the topics changed since it last heard, and a wake-up."""

    def __init__(self):
        self.topics: set[str] = set()
        self.ended = False
        self.event = asyncio.Event()

    def push(self, topics) -> None:
        if topics is None:
            self.ended = True
        else:
            self.topics |= topics
        self.event.set()

    async def next(self, timeout: float) -> set[str] | None:
        """The topics changed since the last call (empty after ``timeout`` seconds of quiet);
        None once the feed is over."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            pass
        self.event.clear()
        if self.ended:
            return None
        topics, self.topics = self.topics, set()
        return topics


def watched_folders(fleet) -> dict[str, dict[str, str]]:
    """{real folder: {file name or "*" + suffix: topic}} for every file the pages show."""
    folders: dict[str, dict[str, str]] = {}

    def add(folder: str, name: str, topic: str) -> None:
        folders.setdefault(os.path.realpath(folder), {})[name] = topic

    for w in fleet.wizards:
        q = os.path.realpath(w.queue)
        add(os.path.dirname(q), os.path.basename(q), "queue")
        add(os.path.join(os.path.dirname(q), "logs"), "events.jsonl", "events")
        add(w.work_dir, "*.active", "work")
        add(w.completed_dir, "*.txt", "results")
        add(w.completed_dir, "*.json", "results")
        for name, topic in (("events.jsonl", "events"), ("uptime.jsonl", "events"), ("executor.json", "executor"),
                            ("gateway.pid", "executor")):
            add(w.logs_dir, name, topic)
    add(os.path.join(fleet.root, "logs"), "uptime.jsonl", "events")
    return folders


def topic_of(rules: dict[str, str], name: str) -> str | None:
    if name.startswith("."):
        return None  # robe's temp files; their rename into place is the change
    if name in rules:
        return rules[name]
    for pattern, topic in rules.items():
        if pattern.startswith("*") and name.endswith(pattern[1:]):
            return topic
    return None


class Watcher:
    """Watches the folders of ``watched_folders`` and calls ``on_change(topics, paths)``."""

    def __init__(self, fleet, on_change: Callable[[set[str], set[str]], None]):
        self.folders = watched_folders(fleet.config)
        self.on_change = on_change
        self._observer = observer()
        self._watches: dict[str, tuple] = {}  # folder -> (watch, inode)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in _WANTED and not event.is_directory:
                    watcher._saw(event)

        self._handler = Handler()

    def _saw(self, event) -> None:
        topics, paths = set(), set()
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = os.fsdecode(raw)
            folder, name = os.path.split(path)
            topic = topic_of(self.folders.get(folder, {}), name)
            if topic:
                topics.add(topic)
                paths.add(path)
        if topics:
            self.on_change(topics, paths)

    def start(self) -> None:
        self._schedule()
        self._observer.start()
        self._thread = threading.Thread(target=self._rescan, name="robe dashboard watcher", daemon=True)
        self._thread.start()

    def _schedule(self) -> bool:
        """Watch each folder that exists and is not watched yet (or was made again); True if any."""
        added = False
        for folder in self.folders:
            try:
                ino = os.stat(folder).st_ino
            except OSError:
                continue
            old = self._watches.get(folder)
            if old is not None and old[1] == ino:
                continue
            if old is not None:
                try:
                    self._observer.unschedule(old[0])
                except (KeyError, OSError):
                    pass
            try:
                self._watches[folder] = (self._observer.schedule(self._handler, folder, recursive=False), ino)
                added = True
            except OSError as e:
                log.warning("dashboard: cannot watch %s: %s", folder, e.strerror or e)
        return added

    def _rescan(self) -> None:
        while not self._stop.wait(RESCAN):
            if self._schedule():  # a folder appeared: what is in it is news to the pages
                self.on_change(set(TOPICS), set())

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        try:
            self._observer.join(2.0)
        except RuntimeError:
            pass
