"""WORK-QUEUE.md: the model, the parser, surgical edits and the one locked, atomic writer.

This is the only code in robe that touches a queue file, and it imports nothing else of robe.
"""

from .edits import Change, NewTask, Outcome, add_task, apply_changes, render_add, set_status, set_statuses
from .model import (
    DEFAULT_PRIORITY,
    ID_PATTERN,
    PRIORITIES,
    STATUS_WORDS,
    ConflictError,
    LockTimeout,
    Problem,
    Queue,
    QueueError,
    Status,
    Task,
    is_valid_id,
    parse_priority,
    parse_status,
    priority_rank,
)
from .store import MAX_BYTES, atomic_write, flock_wait, fsync_dir, load, locked, read_text, update

__all__ = [
    "Change", "NewTask", "Outcome", "add_task", "apply_changes", "render_add", "set_status", "set_statuses",
    "DEFAULT_PRIORITY", "ID_RE", "PRIORITIES", "STATUS_WORDS", "ConflictError", "LockTimeout", "Problem",
    "Queue", "QueueError", "Status", "Task", "is_valid_id", "parse_priority", "parse_status", "priority_rank",
    "next_free_id", "parse", "MAX_BYTES", "atomic_write", "flock_wait", "fsync_dir", "load", "locked", "read_text",
    "update",
]


def __getattr__(name: str):
    if name == "ID_RE":  # compiled on first use: no command of robe's own needs it
        import re

        return re.compile(ID_PATTERN)
    # The scanner (its patterns take ~3 ms to compile) is imported on first use: a dispatch
    # run that finds its parse in robe.queue.cache never needs it.
    if name in ("parse", "next_free_id"):
        from . import scan

        return getattr(scan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
