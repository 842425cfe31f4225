"""Changes to a queue file through the one writer (robe.queue.store.update): set statuses,
set a priority, add a task. Each records what it changed, so the change can be made again on a person's save
that lands in the file the write displaced."""

from __future__ import annotations

from typing import Iterable

from .derive import after_status_edits
from .edits import Change, NewTask, Outcome, PriorityOutcome, add_text, plan_changes, priority_change
from .model import ConflictError, Status
from .store import update


def set_status(path: str, task_id: str, status: Status | str, *, expect: Iterable[Status | str] = (),
               **kwargs) -> Outcome:
    """Set one task's status in the file at ``path``; ConflictError if its precondition fails."""
    change = Change(task_id, Status(status), tuple(Status(s) for s in expect))
    out = set_statuses(path, [change], **kwargs)[0]
    if not out.applied:
        raise ConflictError(out.reason)
    return out


def set_statuses(path: str, changes: list[Change], *, written=None, **kwargs) -> list[Outcome]:
    """Apply several status changes in one locked write; refused ones are reported, not raised.

    ``written(real_path, signature, snapshot)`` is told of the file written, with its parse when
    it can be derived from the one the change was made on (``derive``; else None)."""
    record = [{"set": c.task_id, "status": c.status.value, "expect": [s.value for s in c.expect]} for c in changes]
    made = []

    def change(queue):
        text, outcomes, pieces = plan_changes(queue, changes)
        made[:] = [(queue, text, pieces, outcomes)]
        return text, outcomes

    def told(target, sig):
        written(target, sig, after_status_edits(*made[0]))

    return update(path, change, record=record, written=told if written is not None else None, **kwargs)


def set_priority(path: str, task_id: str, priority: str, *, expect: Iterable[Status | str] = (),
                 expect_priority: str | None = None, **kwargs) -> PriorityOutcome:
    """Set one task's priority in the file at ``path`` (only the priority word changes).

    ``expect``: statuses the task must have now; ``expect_priority``: the priority it must have
    now. Either failing raises ConflictError and nothing is written.
    """
    want = tuple(Status(s) for s in expect)
    record = [{"priority": task_id, "value": priority.upper(), "expect": [s.value for s in want],
               "expect_priority": expect_priority}]
    return update(path, lambda queue: priority_change(queue, task_id, priority, want, expect_priority),
                  record=record, **kwargs)


def add_task(path: str, new: NewTask, *, style: str | None = None, **kwargs) -> str:
    """Append ``new`` to the queue at ``path`` in its style, with the next free ID; returns the ID."""
    made: list[dict] = []  # what was added, recorded once the fresh file told the ID

    def change(queue):
        text, tid = add_text(queue, new, style)
        made[:] = [{"add": new._asdict(), "id": tid, "style": style}]
        return text, tid

    return update(path, change, record=made, **kwargs)
