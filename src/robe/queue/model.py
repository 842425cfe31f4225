"""The plain data of a work queue: statuses, priorities, tasks, problems.

Nothing here reads or writes files; see ``store`` for that and ``scan`` for parsing.
"""

from __future__ import annotations

import gc
from enum import Enum

from ..records import record


#: A task ID: upper-case letters and digits, a dash, a number (TASK-001, BUG-17).
ID_PATTERN = r"[A-Z][A-Z0-9]*-[0-9]+"

PRIORITIES = ("P0", "P1", "P2", "P3")
DEFAULT_PRIORITY = "P2"


class Status(str, Enum):
    """A task's status, valued as the word written in WORK-QUEUE.md."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"

    def __str__(self) -> str:
        return self.value


STATUS_WORDS = tuple(s.value for s in Status)

# Words people write for a status that robe does not accept, and the word they meant.
STATUS_ALIASES = {
    "DONE": "COMPLETE",
    "COMPLETED": "COMPLETE",
    "FINISHED": "COMPLETE",
    "TODO": "PENDING",
    "OPEN": "PENDING",
    "NEW": "PENDING",
    "WIP": "IN_PROGRESS",
    "IN-PROGRESS": "IN_PROGRESS",
    "INPROGRESS": "IN_PROGRESS",
    "ACTIVE": "IN_PROGRESS",
    "RUNNING": "IN_PROGRESS",
    "ERROR": "FAILED",
    "FAIL": "FAILED",
    "ON_HOLD": "BLOCKED",
    "HOLD": "BLOCKED",
}


def without_gc(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the cyclic garbage collector paused.

    A parse (or a kept parse loaded) makes tens of thousands of small objects and no reference
    cycles: the collector's passes over them cost ~20% of a large parse and find nothing. Nor
    is that cost only deferred: the young-generation collection that the next allocations
    would make (~9 ms after 10,000 tasks) is skipped by moving the objects to the oldest
    generation at once (freeze, then unfreeze: two list splices). They stay collectable
    there; only a full collection looks at them, as at any long-lived object.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fn(*args, **kwargs)
    finally:
        if enabled:
            if not gc.get_freeze_count():  # never thaw what someone else froze on purpose
                gc.freeze()
                gc.unfreeze()
            gc.enable()


_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_valid_id(text: str) -> bool:
    """Whether ``text`` is a whole task ID (ID_PATTERN). IDs become file names (claims,
    results): this check uses no regex program kept on disk (robe.queue.patterns), only
    ASCII string tests, and the property tests compare it with the pattern."""
    head, dash, number = text.partition("-")
    return (bool(dash) and head[:1] in _UPPER and head.isascii() and head.isalnum() and head.upper() == head
            and number.isascii() and number.isdigit())


def parse_status(word: str) -> Status | None:
    """The Status a word names (any case), or None."""
    try:
        return Status(word.strip().upper())
    except ValueError:
        return None


def parse_priority(word: str) -> str | None:
    """``P0``..``P3`` (any case) in upper case, or None."""
    w = word.strip().upper()
    return w if w in PRIORITIES else None


def priority_rank(priority: str) -> int:
    """0 for P0 (most urgent) to 3 for P3."""
    return PRIORITIES.index(priority)


class Edit(record(
        "Edit", "status_span insert_at insert_template checkbox_span cell_span",
        defaults=(None, None, None, None, None))):
    """Where a task's status lives in the text, so it can be rewritten alone.

    ``status_span`` is the (start, end) character offsets of the status word, or None when
    the task has no written status; then ``insert_at`` and ``insert_template`` say where
    and how to write one (the template holds ``{status}``). ``checkbox_span`` is the offset
    range of the ``x``/space inside a list task's ``[ ]``. Table cells carry ``cell_span``
    (the whole cell between its pipes) so the column can stay aligned.
    """

    __slots__ = ()
    # Fields:
    #   status_span: tuple[int, int] | None = None
    #   insert_at: int | None = None
    #   insert_template: str | None = None
    #   checkbox_span: tuple[int, int] | None = None
    #   cell_span: tuple[int, int] | None = None


# Records are named tuples: immutable like frozen dataclasses, but a 10,000-task queue builds
# them six times faster. They are made by robe.records.record, not typing.NamedTuple (1.5 M
# instructions a class to define under postponed annotations) nor collections.namedtuple
# (0.45 M, compiling source for each), and an openclaw-work run defines 19 of them.
class Task(record(
        "Task", "id priority status title body assignee depends tags fields line end_line style section "
        "priority_written status_written edit",
        defaults=("", None, (), (), (), 0, 0, "section", None, True, True, Edit()))):
    __slots__ = ()
    # Fields:
    #   id: str
    #   priority: str
    #   status: Status
    #   title: str
    #   body: str = ""
    #   assignee: str | None = None
    #   depends: tuple[str, ...] = ()
    #   tags: tuple[str, ...] = ()
    #   Other ``Key: Value`` fields (or table columns) exactly as written, in order.
    #   fields: tuple[tuple[str, str], ...] = ()
    #   1-based line of the task's heading, list item or table row.
    #   line: int = 0
    #   Last line (1-based, inclusive) of the task's block.
    #   end_line: int = 0
    #   "section", "list" or "table".
    #   style: str = "section"
    #   The text of the nearest enclosing heading (None at the top of the file).
    #   section: str | None = None
    #   Whether the priority was written on the task (False: inherited or default).
    #   priority_written: bool = True
    #   status_written: bool = True
    #   Where the status is written (offsets into the text the task was parsed from).
    #   edit: Edit = Edit()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "priority": self.priority,
            "status": self.status.value,
            "title": self.title,
            "assignee": self.assignee,
            "depends": list(self.depends),
            "tags": list(self.tags),
            "fields": dict(self.fields),
            "body": self.body,
            "line": self.line,
            "style": self.style,
            "section": self.section,
        }


class Problem(record(
        "Problem", "path line message hint task_id severity code",
        defaults=("", None, "error", ""))):
    """Something wrong in the queue, with where it is and how to fix it."""

    __slots__ = ()
    # Fields:
    #   path: str
    #   line: int
    #   message: str
    #   hint: str = ""
    #   task_id: str | None = None
    #   "error" (the task is left out) or "warning" (the task stays usable).
    #   severity: str = "error"
    #   code: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "severity": self.severity,
            "code": self.code,
            "task": self.task_id,
            "message": self.message,
            "hint": self.hint,
        }


class Queue(record(
        "Queue", "path text tasks problems bom newline all_ids rejected partial default_priority",
        defaults=((), False, "\n", frozenset(), (), False, DEFAULT_PRIORITY))):
    """A parsed WORK-QUEUE.md: its text, the usable tasks and the problems found."""

    __slots__ = ()
    # Fields:
    #   path: str
    #   text: str
    #   tasks: tuple[Task, ...]
    #   problems: tuple[Problem, ...] = ()
    #   True when the file started with a UTF-8 byte order mark (kept on write).
    #   bom: bool = False
    #   "\r\n" when most lines end that way, else "\n": what new lines are written with.
    #   newline: str = "\n"
    #   IDs that appear in the file at all, including tasks left out for errors.
    #   all_ids: frozenset[str] = frozenset()
    #   Tasks left out because of errors (kept so commands can say why).
    #   rejected: tuple[Task, ...] = ()
    #   True when parsed with ``only=``: the tasks are a subset of the file's.
    #   partial: bool = False
    #   The priority of tasks that have none written and no ``## P<n>`` heading above them.
    #   default_priority: str = DEFAULT_PRIORITY

    def get(self, task_id: str) -> Task | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for task in self.tasks:
            counts[task.status.value] += 1
        return counts


class QueueError(Exception):
    """A queue file cannot be read or written; the message says what to do."""


class ConflictError(QueueError):
    """A change's precondition no longer holds in the fresh file; nothing was written."""


class LockTimeout(QueueError):
    """Another robe process held the queue's lock for too long."""
