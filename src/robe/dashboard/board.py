"""The board: every task of the fleet's queue files in a column per status and a lane per
wizard, filtered by wizard, priority, tag and text, one page at a time.

A queue of 10,000 tasks takes about 250 ms to parse, so the dashboard keeps each queue file's
parse (and each task's wizard) while the file is unchanged: its (device, inode, size, mtime)
is compared on every request. When the file watcher sees the file change, it is read again
at once, before the open pages ask (``refresh``). A file is parsed by one thread at a time; a
request that comes meanwhile waits for that parse instead of making another. robe writes a
queue by renaming a new file over it, so each of its writes has a new inode; an editor's save
changes the mtime (a second save of the same size within the file system's clock tick would
be missed until the next change).
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

from ..queue import PRIORITIES, QueueError, Snapshot, Status, load
from ..routing import Router, queue_key

STATUSES = tuple(s.value for s in Status)
#: cards shown in one cell of the whole board; the rest are a link away
CELL_CARDS = 20
#: cards on one page of a single lane and column
PAGE_CARDS = 100
NOBODY = "(nobody)"


class Card(NamedTuple):
    """A task as the board shows it."""

    id: str
    title: str
    priority: str
    status: str
    #: the wizard the task routes to (None: nobody takes it)
    wizard: str | None
    #: the wizard whose queue file holds it: the task's address is /task/<queue>/<id>
    queue: str
    tags: tuple[str, ...]
    assignee: str | None
    line: int
    #: lower-case id, title, tags and body, for the text filter
    text: str


class QueueView(NamedTuple):
    """One queue file as read: its parse, its cards, and the problem when it cannot be read."""

    path: str
    owner: str
    snapshot: Snapshot | None
    cards: tuple[Card, ...]
    error: str | None = None


def _signature(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class QueueCache:
    """The fleet's queue files, parsed once per change of each file (thread-safe)."""

    def __init__(self, config):
        self.config = config
        self._lock = threading.Lock()
        self._kept: dict[str, tuple] = {}
        self.files: dict[str, str] = {}  # real path -> the first wizard that reads it
        for w in config.wizards:
            self.files.setdefault(queue_key(w.queue), w.name)
        self._reading = {key: threading.Lock() for key in self.files}

    def refresh(self, path: str) -> None:
        """Read a queue file that changed again now, on a thread of its own, so the pages that
        are about to ask find it parsed (or wait for this one parse)."""
        key = os.path.realpath(path)
        if key in self.files:
            threading.Thread(target=self.view, args=(key,), name="robe dashboard parse", daemon=True).start()

    def _fresh(self, key: str, sig):
        with self._lock:
            kept = self._kept.get(key)
        return kept[1] if kept is not None and sig is not None and kept[0] == sig else None

    def view(self, key: str) -> QueueView:
        view = self._fresh(key, _signature(key))
        if view is not None:
            return view
        with self._reading[key]:  # one parse of a file at a time; the others wait for it
            sig = _signature(key)
            view = self._fresh(key, sig)
            if view is None:
                view = self._read(key)
                with self._lock:
                    self._kept[key] = (sig, view)
        return view

    def views(self) -> list[QueueView]:
        return [self.view(key) for key in self.files]

    def _read(self, key: str) -> QueueView:
        owner = self.files[key]
        if not os.path.exists(key):
            return QueueView(key, owner, None, (), f"{key} does not exist yet")
        try:
            # Without the known assignees: a task naming no wizard of the fleet stays on the
            # board, in the "(nobody)" lane, instead of vanishing.
            snap = load(key, default_priority=self.config.default_priority)
        except QueueError as e:
            return QueueView(key, owner, None, (), str(e))
        router = Router(self.config, key)
        cards = tuple(Card(t.id, t.title, t.priority, t.status.value, router.route(t).wizard, owner, t.tags,
                           t.assignee, t.line, " ".join((t.id, t.title, " ".join(t.tags), t.body)).lower())
                      for t in snap.tasks)
        return QueueView(key, owner, snap, cards)

    def find(self, queue_owner: str, task_id: str):
        """(QueueView, Task) of ``task_id`` in the queue file that wizard ``queue_owner`` reads;
        (view, None) when the file has no such usable task."""
        w = self.config.wizard(queue_owner)
        view = self.view(queue_key(w.queue))
        task = view.snapshot.get(task_id) if view.snapshot is not None else None
        return view, task

    def card(self, queue_owner: str, task_id: str) -> Card | None:
        view = self.view(queue_key(self.config.wizard(queue_owner).queue))
        return next((c for c in view.cards if c.id == task_id), None)


class Filters(NamedTuple):
    """What the person asked the board to show (every field validated: nothing from the request
    reaches the page or a file as it came)."""

    wizard: str = ""
    priority: str = ""
    tag: str = ""
    text: str = ""
    status: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query, names) -> "Filters":
        wizard = query.get("wizard", "")
        priority = query.get("priority", "").upper()
        status = query.get("status", "").upper()
        try:
            page = max(int(query.get("page", "1")), 1)
        except ValueError:
            page = 1
        return cls(wizard if wizard in names or wizard == NOBODY else "",
                   priority if priority in PRIORITIES else "",
                   query.get("tag", "").strip().lower()[:80], query.get("q", "").strip().lower()[:200],
                   status if status in STATUSES else "", page)

    def fits(self, c: Card) -> bool:
        return ((not self.wizard or (c.wizard or NOBODY) == self.wizard)
                and (not self.priority or c.priority == self.priority)
                and (not self.tag or self.tag in c.tags)
                and (not self.status or c.status == self.status)
                and (not self.text or self.text in c.text))

    def query(self, **changes) -> dict:
        """The query string of these filters with ``changes``, without empty values."""
        d = {"wizard": self.wizard, "priority": self.priority, "tag": self.tag, "q": self.text,
             "status": self.status, "page": self.page if self.page > 1 else ""}
        d.update(changes)
        return {k: v for k, v in d.items() if v not in ("", None, 1)}


class Cell(NamedTuple):
    status: str
    cards: list[Card]
    total: int


class Lane(NamedTuple):
    wizard: str
    cells: list[Cell]
    total: int


class Board(NamedTuple):
    lanes: list[Lane]
    #: cards that fit the filters, by status
    totals: dict
    shown: int
    matching: int
    all_tasks: int
    problems: list[str]
    #: paging of a single lane and column (wizard and status both chosen): (page, pages)
    paging: tuple[int, int] | None
    tags: list[str]


def build_board(cache: QueueCache, filters: Filters) -> Board:
    """The board for ``filters``: at most CELL_CARDS cards per cell, or one page of PAGE_CARDS
    when a single wizard and status are chosen."""
    names = [w.name for w in cache.config.wizards]
    cells: dict[str, dict[str, list[Card]]] = {}
    problems, tags = [], set()
    every = 0
    for view in cache.views():
        if view.error:
            problems.append(view.error)
        elif view.snapshot is not None and view.snapshot.errors:
            problems.append(f"{view.path}: {len(view.snapshot.errors)} task(s) left out for errors "
                            "(see robe queue validate)")
        every += len(view.cards)
        for c in view.cards:
            tags.update(c.tags)
            if filters.fits(c):
                cells.setdefault(c.wizard or NOBODY, {}).setdefault(c.status, []).append(c)
    lanes_wanted = [filters.wizard] if filters.wizard else names + ([NOBODY] if NOBODY in cells else [])
    statuses = [filters.status] if filters.status else list(STATUSES)
    single = bool(filters.wizard and filters.status)
    paging = None
    lanes = []
    totals = {s: 0 for s in STATUSES}
    shown = 0
    for name in lanes_wanted:
        row = []
        for s in statuses:
            found = cells.get(name, {}).get(s, [])
            totals[s] += len(found)
            if single:
                pages = max((len(found) + PAGE_CARDS - 1) // PAGE_CARDS, 1)
                page = min(filters.page, pages)
                paging = (page, pages)
                part = found[(page - 1) * PAGE_CARDS: page * PAGE_CARDS]
            else:
                part = found[:CELL_CARDS]
            shown += len(part)
            row.append(Cell(s, part, len(found)))
        lanes.append(Lane(name, row, sum(c.total for c in row)))
    return Board(lanes, totals, shown, sum(totals.values()), every, problems, paging, sorted(tags)[:200])
