"""Which wizard takes a task, and which of a wizard's tasks are ready to be claimed.

Routing, in order: the task's Assignee when it names a wizard of the fleet; else the first
route of fleet.yaml whose ``match`` fits; else, when exactly one wizard reads the task's queue
file (its house queue), that wizard; else ``default_wizard`` (meant for queues several wizards
share). A task whose Assignee names no wizard (and that no ``assignee`` route maps) is never
routed: it is reported, every run.

Plain functions over a parsed queue (a Snapshot) and the fleet: nothing here touches a file.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from typing import Iterable, NamedTuple

from .queue import Snapshot, Status, Task, priority_rank

#: Routing.how values
ASSIGNEE, ROUTE, DEFAULT, OWNER, UNKNOWN, NOBODY = "assignee", "route", "default", "owner", "unknown", "nobody"


class Routing(NamedTuple):
    """Where a task goes: ``wizard`` (None when nobody takes it) and why (``how``); ``line`` is
    the route's line in fleet.yaml when ``how`` is "route"."""

    wizard: str | None
    how: str
    line: int = 0


def queue_key(path: str) -> str:
    """The identity of a queue file: two wizards share a queue when their keys are equal."""
    return os.path.realpath(path)


def readers(fleet, path: str) -> list[str]:
    """Names of the wizards whose queue is the file at ``path``."""
    key = queue_key(path)
    return [w.name for w in fleet.wizards if queue_key(w.queue) == key]


def fits(match: dict, task: Task) -> bool:
    """Every key of ``match`` fits the task (an empty match fits every task)."""
    for key, want in match.items():
        if key == "assignee":
            ok = task.assignee is not None and task.assignee in {w.lower() for w in want}
        elif key == "priority":
            ok = task.priority in want
        elif key == "tags":
            ok = bool(set(task.tags) & set(want))
        elif key == "section":
            sec = (task.section or "").strip().lower()
            ok = any(fnmatchcase(sec, w.strip().lower()) for w in want)
        elif key == "id":
            ok = any(fnmatchcase(task.id, w.strip().upper()) for w in want)
        else:  # a key the fleet validator does not know: fit nothing rather than everything
            ok = False
        if not ok:
            return False
    return True


class Router:
    """Routes the tasks of one queue file."""

    def __init__(self, fleet, queue_path: str, owners: list[str] | None = None):
        """``owners``: the wizards that read ``queue_path``, when the caller knows them."""
        self.names = frozenset(w.name for w in fleet.wizards)
        self.routes = tuple(fleet.routes)
        self.default = fleet.default_wizard if fleet.default_wizard in self.names else None
        owners = readers(fleet, queue_path) if owners is None else owners
        self.owner = owners[0] if len(owners) == 1 else None

    def route(self, task: Task) -> Routing:
        named = task.assignee
        if named and named in self.names:
            return Routing(named, ASSIGNEE)
        for r in self.routes:
            if named and "assignee" not in r.match:
                continue  # a person named someone: only a route about that name may reinterpret it
            if fits(r.match, task):
                return Routing(r.wizard, ROUTE, r.line)
        if named:
            return Routing(None, UNKNOWN)
        if self.owner:  # a wizard's own queue: "Tasks for ezra" go to ezra, whatever the default
            return Routing(self.owner, OWNER)
        return Routing(self.default, DEFAULT) if self.default else Routing(None, NOBODY)


def route_task(fleet, queue_path: str, task: Task) -> Routing:
    return Router(fleet, queue_path).route(task)


def routed_tasks(fleet, queue: Snapshot, wizard_name: str) -> list[Task]:
    """The tasks of ``queue`` that route to ``wizard_name``, in file order (any status)."""
    router = Router(fleet, queue.path)
    return [t for t in queue.tasks if router.route(t).wizard == wizard_name]


def is_ready(task: Task, by_id: dict[str, Task], floor_rank: int = 3) -> bool:
    """PENDING, at or above the floor, every dependency COMPLETE."""
    if task.status is not Status.PENDING or priority_rank(task.priority) > floor_rank:
        return False
    return all(by_id.get(dep) is not None and by_id[dep].status is Status.COMPLETE for dep in task.depends)


def order(tasks: Iterable[Task]) -> list[Task]:
    """By priority (P0 first), then position in the file."""
    return sorted(tasks, key=lambda t: (priority_rank(t.priority), t.line))


def ready_tasks(fleet, queue: Snapshot, wizard_name: str, claimed: Iterable[str] = ()) -> list[Task]:
    """What ``wizard_name`` would take next from ``queue``, in order (capacity not applied):
    PENDING, routed to it, every dependency COMPLETE, at or above its ``dispatch_floor``, and
    not among ``claimed`` (IDs that already have a claim)."""
    wizard = fleet.wizard(wizard_name)
    taken = set(claimed)
    by_id = queue.by_id()
    floor = priority_rank(wizard.dispatch_floor)
    router = Router(fleet, queue.path)
    return order(t for t in queue.tasks
                 if t.id not in taken and is_ready(t, by_id, floor) and router.route(t).wizard == wizard_name)
