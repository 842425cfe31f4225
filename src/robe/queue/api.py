"""``robe.Queue``: one WORK-QUEUE.md, as a Python object to script against.

    >>> from robe import Queue, Status
    >>> q = Queue("WORK-QUEUE.md")
    >>> [t.id for t in q.tasks(status=Status.PENDING)]
    ['TASK-001', 'TASK-002']
    >>> q.add("Write the weekly digest", priority="P1", assignee="ezra").id
    'TASK-003'
    >>> q.set_status("TASK-001", Status.COMPLETE, expect=Status.IN_PROGRESS)

Every read parses the file afresh (a person may have saved it since); every change goes
through the one locked writer (``robe.queue.store.update``) and is logged in
``logs/events.jsonl`` beside the file.
"""

from __future__ import annotations

from typing import Iterable

from .crosscheck import disagreements
from .edits import NewTask, Outcome, PriorityOutcome
from .events import append_event, events_path, person
from .model import DEFAULT_PRIORITY, ConflictError, Problem, Snapshot, Status, Task
from .store import load
from .writes import add_task, set_priority, set_status


def _statuses(value) -> tuple[Status, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Status)):
        value = (value,)
    return tuple(Status(str(v).upper()) for v in value)


def _words(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class Queue:
    """A WORK-QUEUE.md file: read it, list and filter its tasks, add one, set a status."""

    def __init__(self, path: str = "WORK-QUEUE.md", *, default_priority: str = DEFAULT_PRIORITY,
                 known_assignees: Iterable[str] | None = None):
        self.path = path
        self.default_priority = default_priority
        self.known_assignees = None if known_assignees is None else frozenset(known_assignees)

    def __repr__(self) -> str:
        return f"Queue({self.path!r})"

    def read(self) -> Snapshot:
        """The file as it is now: its text, the usable tasks, the tasks left out, the problems.
        QueueError when the file cannot be read (missing, not UTF-8, too large)."""
        return load(self.path, default_priority=self.default_priority, known_assignees=self.known_assignees)

    def tasks(self, *, status=None, priority=None, assignee: str | None = None) -> list[Task]:
        """The usable tasks in file order, filtered by ``status`` (a Status, a word, or several),
        ``priority`` (``"P1"`` or several) and ``assignee`` (a wizard's name)."""
        want_s, want_p = _statuses(status), tuple(p.upper() for p in _words(priority))
        return [t for t in self.read().tasks
                if (not want_s or t.status in want_s) and (not want_p or t.priority in want_p)
                and (assignee is None or t.assignee == assignee.lower())]

    def get(self, task_id: str) -> Task | None:
        """The task with this ID, also when its errors leave it out of ``tasks()``; None if the
        file has no such task."""
        snap = self.read()
        return snap.get(task_id) or next((t for t in snap.rejected if t.id == task_id), None)

    def problems(self, *, markdown_check: bool = False, snapshot: Snapshot | None = None) -> list[Problem]:
        """Every problem with file:line and a hint; with ``markdown_check``, also the places
        where robe and the mistune markdown parser read the structure differently.
        (``snapshot``: a read of this file already made.)"""
        snap = snapshot or self.read()
        found = list(snap.problems)
        if markdown_check:
            found = sorted(found + disagreements(snap), key=lambda p: p.line)
        return found

    def add(self, title: str, *, priority: str = "P2", assignee: str | None = None, depends: Iterable[str] = (),
            tags: Iterable[str] = (), body: str = "", style: str | None = None, by: str | None = None,
            fields: Iterable[tuple[str, str]] = ()) -> Task:
        """Append a task with the next free ID, in the style the file already uses (or ``style``:
        section, list or table); returns it as the file now has it. ``fields``: other
        ``(Key, Value)`` fields to write under it (a table has no room for them)."""
        new = NewTask(title=title, priority=priority.upper(), assignee=assignee.lower() if assignee else None,
                      depends=tuple(depends), tags=tuple(tags), body=body, fields=tuple(fields))
        tid = add_task(self.path, new, style=style)
        append_event(events_path(self.path), tid, None, new.status.value, by=by or person(), detail="added")
        task = self.get(tid)
        if task is None:  # a person deleted it in the same instant
            raise ConflictError(f"{tid} was added to {self.path} but is no longer there")
        return task

    def set_status(self, task_id: str, status, *, expect=None, reason: str = "", by: str | None = None) -> Outcome:
        """Set a task's status (only the status word changes, and a list task's checkbox).

        ``expect``: a status (or several) the task must have now, else ConflictError and
        nothing is written. The change is logged as ``by`` (default: the person at this
        terminal); ``reason`` goes into the log line.
        """
        out = set_status(self.path, task_id, Status(str(status).upper()), expect=_statuses(expect))
        if out.reason != "unchanged":
            append_event(events_path(self.path), task_id, out.before.value, out.after.value, by=by or person(),
                         detail=reason, manual=by is None)
        return out

    def set_priority(self, task_id: str, priority: str, *, expect=None, expect_priority: str | None = None,
                     reason: str = "", by: str | None = None) -> PriorityOutcome:
        """Set a task's priority (only the priority word changes, or one is written where none was).

        ``expect``: a status (or several) the task must have now; ``expect_priority``: the
        priority it must have now. Either failing raises ConflictError and nothing is written.
        The change is logged like a status change, with ``event: "priority"``.
        """
        out = set_priority(self.path, task_id, priority, expect=_statuses(expect), expect_priority=expect_priority)
        if out.changed:
            detail = f"priority {out.before} -> {out.after}" + (f": {reason}" if reason else "")
            append_event(events_path(self.path), task_id, out.status.value, out.status.value, by=by or person(),
                         detail=detail, event="priority", manual=by is None)
        return out
