"""The dashboard's actions: retry, cancel, block, unblock, change priority, add a task.

Each is one change through the queue's one locked writer (``robe.Queue``), with what the page
showed as its precondition: a status action expects the status the card had, a priority
change also the priority it had. A stale page therefore gets the writer's ConflictError
("TASK-7 is COMPLETE now, not FAILED; nothing was changed"), never an overwrite. Every
change is a line in the event log beside the queue, as a person's ``robe queue set`` is.

Cancel only writes FAILED (expecting IN_PROGRESS); stopping the agent is the executor's job
once it sees the task is no longer IN_PROGRESS in the file.

Nothing from the request becomes a path: the wizard must be one of the fleet's names and the
task ID must be a valid ID present in that wizard's queue file.
"""

from __future__ import annotations

from typing import NamedTuple

from ..api import Fleet
from ..errors import RobeError
from ..queue import PRIORITIES, Status, is_valid_id

#: action -> (the status the task must have, the status it gets)
STATUS_ACTIONS = {
    "retry": (Status.FAILED, Status.PENDING),
    "cancel": (Status.IN_PROGRESS, Status.FAILED),
    "block": (Status.PENDING, Status.BLOCKED),
    "unblock": (Status.BLOCKED, Status.PENDING),
}
ACTIONS = (*STATUS_ACTIONS, "priority", "add")
MAX_TITLE = 300
MAX_BODY = 20_000


class ActionError(RobeError):
    """An action that is not well formed (HTTP 400) or names nothing the fleet has (404)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Done(NamedTuple):
    """What an action did, as the page's message says it."""

    message: str
    task: str | None = None


def _text(data: dict, key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ActionError(f"'{key}' must be text")
    if len(value) > limit:
        raise ActionError(f"'{key}' is longer than {limit} characters")
    return value


def _wizard(fleet: Fleet, data: dict, key: str) -> str:
    name = _text(data, key, 64)
    if name not in fleet.config.names:
        raise ActionError(f"the fleet has no wizard named {name!r}", 404)
    return name


def _task_id(data: dict) -> str:
    tid = _text(data, "task", 64)
    if not is_valid_id(tid):
        raise ActionError(f"{tid!r} is not a task ID (IDs look like TASK-001)")
    return tid


def _shown_status(data: dict) -> Status:
    word = _text(data, "expect", 16).upper()
    if word not in Status.__members__:
        raise ActionError("the action does not say which status the page showed ('expect')")
    return Status(word)


def perform(fleet: Fleet, data: dict, client: str = "") -> Done:
    """Take the action ``data`` asks for (a JSON object from the page); ActionError when it is
    malformed, ConflictError when the queue no longer shows what the page showed."""
    if not isinstance(data, dict):
        raise ActionError("an action is a JSON object")
    action = data.get("action")
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}; the dashboard knows {', '.join(ACTIONS)}")
    origin = f"from the dashboard ({client})" if client else "from the dashboard"
    if action == "add":
        return _add(fleet, data)
    queue = fleet.queue(_wizard(fleet, data, "queue"))
    tid = _task_id(data)
    shown = _shown_status(data)
    if action == "priority":
        priority = _text(data, "priority", 4).upper()
        if priority not in PRIORITIES:
            raise ActionError(f"unknown priority {priority!r}; use P0 (most urgent) to P3")
        was = _text(data, "expect_priority", 4).upper() or None
        out = queue.set_priority(tid, priority, expect=shown, expect_priority=was, reason=origin)
        return Done(f"{tid}: priority {out.before} -> {out.after}" if out.changed else
                    f"{tid} already has priority {priority}", tid)
    need, to = STATUS_ACTIONS[action]
    if shown is not need:
        raise ActionError(f"{action} applies to a {need.value} task, and the page showed {tid} as {shown.value}")
    reason = f"cancelled {origin}" if action == "cancel" else f"{action} {origin}"
    queue.set_status(tid, to, expect=need, reason=reason)
    return Done(f"{tid}: {need.value} -> {to.value}", tid)


def _add(fleet: Fleet, data: dict) -> Done:
    wizard = _wizard(fleet, data, "wizard")
    title = _text(data, "title", MAX_TITLE).strip()
    priority = _text(data, "priority", 4).upper() or fleet.config.default_priority
    tags = [t.strip().lower() for t in _text(data, "tags", 500).split(",") if t.strip()]
    body = _text(data, "body", MAX_BODY)
    task = fleet.queue(wizard).add(title, priority=priority, assignee=wizard, tags=tags, body=body)
    return Done(f"{task.id} added to {wizard}'s queue", task.id)
