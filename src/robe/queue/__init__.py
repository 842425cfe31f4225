"""WORK-QUEUE.md: the model, the scanner, surgical edits and the one locked, atomic writer.

| module     | owns                                                                 |
|------------|----------------------------------------------------------------------|
| model      | Status, Task, Problem, Snapshot (a parsed file), IDs and priorities   |
| blocks     | pass 1: the markdown block structure of the lines, with offsets       |
| scan       | pass 2: tasks, fields and bodies; ``parse``                          |
| nearmiss   | near misses (PENDNG, P7, Assignee: nobody) as warnings               |
| checks     | checks across tasks: duplicates, dependencies, cycles; next free ID   |
| edits      | surgical status and priority edits, appending a task (pure text)     |
| store      | reading a queue safely and the one writer (``update``)                |
| displaced  | the versions robe's writes displaced, kept in logs/displaced/        |
| writes     | set statuses and priorities, add tasks, through the one writer       |
| events     | the event log, logs/events.jsonl                                     |
| crosscheck | the scanner against the mistune markdown parser                      |
| api        | ``Queue``: one file as an object to script against (``robe.Queue``)   |
| asks       | an ask as a task holds it: the Asked-By, Ask-Chain, Ask-Task fields   |
"""

from .checks import next_free_id
from .edits import (Change, NewTask, Outcome, PriorityOutcome, add_text, apply_changes, priority_change, priority_text,
                    render_add)
from .model import (
    DEFAULT_PRIORITY,
    ID_PATTERN,
    MAX_ID_LENGTH,
    PRIORITIES,
    STATUS_WORDS,
    ConflictError,
    LockTimeout,
    Problem,
    QueueError,
    Snapshot,
    Status,
    Task,
    is_valid_id,
    parse_priority,
    parse_status,
    priority_rank,
)
from .scan import parse
from .store import MAX_BYTES, QUIET_S, load, locked, read_quiet, read_text, update, wait_quiet
from .writes import add_task, set_priority, set_status, set_statuses

__all__ = [
    "Change", "NewTask", "Outcome", "add_task", "add_text", "apply_changes", "render_add", "set_status",
    "set_statuses", "QUIET_S", "read_quiet", "wait_quiet", "PriorityOutcome", "priority_change", "priority_text",
    "set_priority",
    "DEFAULT_PRIORITY", "ID_PATTERN", "MAX_ID_LENGTH", "PRIORITIES", "STATUS_WORDS", "ConflictError", "LockTimeout",
    "Problem", "QueueError", "Snapshot", "Status", "Task", "is_valid_id", "parse_priority", "parse_status",
    "priority_rank", "next_free_id", "parse", "MAX_BYTES", "load", "locked", "read_text", "update",
]
