"""The plain data of a work queue: statuses, priorities, tasks, problems, a parsed file.

Nothing here reads or writes files; ``store`` does that and ``scan`` parses.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

from ..errors import RobeError

#: A task ID: upper-case letters and digits, a dash, a number (TASK-001, BUG-17).
ID_PATTERN = r"[A-Z][A-Z0-9]*-[0-9]+"
ID_RE = re.compile(ID_PATTERN)
#: IDs become file names (claims, results): longer ones are refused by the parser.
MAX_ID_LENGTH = 64

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
_STATUS_BY_WORD = {s.value: s for s in Status}

#: Words people write for a status that robe does not accept, and the word they meant.
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


def is_valid_id(text: str) -> bool:
    """Whether ``text`` is a whole task ID of at most MAX_ID_LENGTH characters."""
    return len(text) <= MAX_ID_LENGTH and ID_RE.fullmatch(text) is not None


def parse_status(word: str) -> Status | None:
    """The Status a word names (any case), or None."""
    return _STATUS_BY_WORD.get(word.strip().upper())


def parse_priority(word: str) -> str | None:
    """``P0``..``P3`` (any case) in upper case, or None."""
    w = word.strip().upper()
    return w if w in PRIORITIES else None


def priority_rank(priority: str) -> int:
    """0 for P0 (most urgent) to 3 for P3."""
    return PRIORITIES.index(priority)


class Edit(NamedTuple):
    """Where a task's status lives in the text, so it can be rewritten alone.

    ``status_span`` is the (start, end) character offsets of the status word, or None when
    the task has no written status; then ``insert_at`` and ``insert_template`` say where
    and how to write one (the template holds ``{status}``). ``checkbox_span`` is the offset
    range of the ``x``/space inside a list task's ``[ ]``. Table cells carry ``cell_span``
    (the whole cell between its pipes) so the column can stay aligned.
    """

    status_span: tuple[int, int] | None = None
    insert_at: int | None = None
    insert_template: str | None = None
    checkbox_span: tuple[int, int] | None = None
    cell_span: tuple[int, int] | None = None


class Task(NamedTuple):
    """One task of a queue file, as written there. (A named tuple rather than a frozen
    dataclass: a 100,000-task queue makes 100,000 of them, and a tuple is made 4x faster.)"""

    id: str
    priority: str
    status: Status
    title: str
    body: str = ""
    assignee: str | None = None
    depends: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: other ``Key: Value`` fields (or table columns) exactly as written, in order
    fields: tuple[tuple[str, str], ...] = ()
    #: 1-based line of the task's heading, list item or table row
    line: int = 0
    #: last line (1-based, inclusive) of the task's block
    end_line: int = 0
    #: "section", "list" or "table"
    style: str = "section"
    #: the text of the nearest enclosing heading (None at the top of the file)
    section: str | None = None
    #: whether the priority was written on the task (False: inherited or default)
    priority_written: bool = True
    status_written: bool = True
    #: where the status is written (offsets into the text the task was parsed from)
    edit: Edit = Edit()

    @property
    def prompt(self) -> str:
        """What the agent is given: ``ID: title``, then the body."""
        body = self.body.strip("\n")
        head = f"{self.id}: {self.title}"
        return f"{head}\n\n{body}" if body.strip() else head

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


class Problem(NamedTuple):
    """Something wrong in the queue, with where it is and how to fix it."""

    path: str
    line: int
    message: str
    hint: str = ""
    task_id: str | None = None
    #: "error" (the task is left out) or "warning" (the task stays usable)
    severity: str = "error"
    code: str = ""

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


class Snapshot(NamedTuple):
    """A queue file as parsed at one moment: its text, the usable tasks and the problems."""

    path: str
    text: str
    tasks: tuple[Task, ...]
    problems: tuple[Problem, ...] = ()
    #: True when the file started with a UTF-8 byte order mark (kept on write)
    bom: bool = False
    #: "\r\n" when most lines end that way, else "\n": what new lines are written with
    newline: str = "\n"
    #: IDs that appear in the file at all, including tasks left out for errors
    all_ids: frozenset[str] = frozenset()
    #: tasks left out because of errors (kept so commands can say why)
    rejected: tuple[Task, ...] = ()
    #: the priority of tasks that have none written and no ``## P<n>`` heading above them
    default_priority: str = DEFAULT_PRIORITY
    #: what a parse of this text after an edit can start from (``scan.Basis``; ``scan.reparse``)
    basis: object = None

    def get(self, task_id: str) -> Task | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for task in self.tasks:
            counts[task.status.value] += 1
        return counts


class QueueError(RobeError):
    """A queue file cannot be read or written; the message says what to do."""


class ConflictError(QueueError):
    """A change's precondition no longer holds in the fresh file; nothing was written."""


class LockTimeout(QueueError):
    """Another robe process held the queue's lock for too long."""
