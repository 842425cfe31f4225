"""Which wizard takes a task, and which of a wizard's tasks are ready to be claimed.

Routing, in order: the task's Assignee when it names a wizard of the fleet; else the first
route of fleet.yaml whose ``match`` fits; else ``default_wizard``; else, when exactly one
wizard reads the task's queue file, that wizard. A task whose Assignee names no wizard (and
that no ``assignee`` route maps) is never routed: it is reported, every run.

Plain functions over the parsed Queue and the Fleet: nothing here touches the file system
except :func:`ready_tasks` when it is not told which tasks are already claimed.
"""

from __future__ import annotations

import os
from typing import Iterable

from ..queue import Queue, Status, Task, priority_rank
from ..records import record

#: Route.kind values
ASSIGNEE, ROUTE, DEFAULT, OWNER, UNKNOWN, NOBODY = "assignee", "route", "default", "owner", "unknown", "nobody"


class Routing(record("Routing", "wizard how line", defaults=(0,))):
    """Where a task goes: ``wizard`` (None when nobody takes it) and why (``how``)."""

    __slots__ = ()
    # Fields:
    #   wizard: str | None
    #   how: str
    #   the route's line in fleet.yaml when ``how`` is "route"
    #   line: int = 0


def queue_key(path: str) -> str:
    """The identity of a queue file: two wizards share a queue when their keys are equal."""
    return os.path.realpath(path)


def readers(fleet, path: str) -> list[str]:
    """Names of the wizards whose queue is the file at ``path``."""
    key = queue_key(path)
    return [w.name for w in fleet.wizards if queue_key(w.queue) == key]


def fnmatchcase(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase as glob  # only fleets with section or id routes need it

    return glob(name, pattern)


def _fits(match: dict, task: Task) -> bool:
    """Every key of ``match`` fits the task (an empty match fits every task)."""
    for key, want in match.items():
        if key == "assignee":
            if task.assignee is None or task.assignee not in {w.lower() for w in want}:
                return False
        elif key == "priority":
            if task.priority not in want:
                return False
        elif key == "tags":
            if not set(task.tags) & set(want):
                return False
        elif key == "section":
            sec = (task.section or "").strip().lower()
            if not any(fnmatchcase(sec, w.strip().lower()) for w in want):
                return False
        elif key == "id":
            if not any(fnmatchcase(task.id, w.strip().upper()) for w in want):
                return False
        else:  # a key the fleet validator does not know: fit nothing rather than everything
            return False
    return True


class Router:
    """Routes the tasks of one queue file; built once per queue, so a run stays O(tasks)."""

    def __init__(self, fleet, queue_path: str):
        self.names = frozenset(w.name for w in fleet.wizards)
        self.assigned = {n: Routing(n, ASSIGNEE) for n in self.names}
        self.routes = tuple(fleet.routes)
        self.default = fleet.default_wizard if fleet.default_wizard in self.names else None
        owners = readers(fleet, queue_path)
        self.owner = owners[0] if len(owners) == 1 else None
        # The answers that do not depend on the task, made once: a 10,000-task run asks 10,000 times.
        self.fallback = (Routing(self.default, DEFAULT) if self.default else Routing(self.owner, OWNER) if self.owner
                         else Routing(None, NOBODY))
        self.unknown = Routing(None, UNKNOWN)

    def route(self, task: Task) -> Routing:
        named = task.assignee
        if named and named in self.names:
            return self.assigned[named]
        for r in self.routes:
            if named and "assignee" not in r.match:
                # A person named someone: only a route about that name may reinterpret it.
                continue
            if _fits(r.match, task):
                return Routing(r.wizard, ROUTE, r.line)
        return self.unknown if named else self.fallback


def route_task(fleet, queue_path: str, task: Task) -> Routing:
    return Router(fleet, queue_path).route(task)


def routed_tasks(fleet, queue: Queue, wizard_name: str) -> list[Task]:
    """The tasks of ``queue`` that route to ``wizard_name``, in file order (any status)."""
    router = Router(fleet, queue.path)
    return [t for t in queue.tasks if router.route(t).wizard == wizard_name]


def claimed_ids(fleet, queue_path: str | None = None) -> set[str]:
    """IDs with a claim (``work/<ID>.active``) in any wizard's house: one listing per house.

    With ``queue_path``, only claims on tasks of that queue file (a claim names its queue; a
    hand-made trigger belongs to its house's own queue).
    """
    from .claims import read_claim

    key = queue_key(queue_path) if queue_path else None
    out: set[str] = set()
    for w in fleet.wizards:
        work = os.path.join(w.house, "work")
        for tid in list_claims(work):
            if key is not None:
                rec = read_claim(work, tid)
                qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else w.queue
                if queue_key(qpath) != key:
                    continue
            out.add(tid)
    return out


def list_claims(work_dir: str) -> set[str]:
    from ..queue import is_valid_id

    try:
        names = os.listdir(work_dir)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {n[:-7] for n in names if n.endswith(".active") and is_valid_id(n[:-7])}


def is_ready(task: Task, by_id: dict[str, Task], floor_rank: int) -> bool:
    """PENDING, at or above the floor, every dependency COMPLETE."""
    if task.status is not Status.PENDING or priority_rank(task.priority) > floor_rank:
        return False
    for dep in task.depends:
        d = by_id.get(dep)
        if d is None or d.status is not Status.COMPLETE:
            return False
    return True


def order(tasks: Iterable[Task]) -> list[Task]:
    """By priority (P0 first), then position in the file."""
    return sorted(tasks, key=lambda t: (priority_rank(t.priority), t.line))


def ready_tasks(fleet, queue: Queue, wizard_name: str, claims: Iterable[str] | None = None) -> list[Task]:
    """What ``wizard_name`` would take next from ``queue``, in order (capacity not applied).

    ``claims``: IDs that already have a claim and so are not taken again; by default the
    claims on this queue's tasks in every house of the fleet.
    """
    wizard = fleet.wizard(wizard_name)
    taken = claimed_ids(fleet, queue.path) if claims is None else set(claims)
    by_id = {t.id: t for t in queue.tasks}
    floor = priority_rank(wizard.dispatch_floor)
    router = Router(fleet, queue.path)
    return order(t for t in queue.tasks
                 if t.id not in taken and is_ready(t, by_id, floor) and router.route(t).wizard == wizard_name)
