"""Cancelling a task: ``robe cancel ID``.

The queue is the person's: the task is set to BLOCKED there (through the one locked writer,
expecting IN_PROGRESS or PENDING, so a task that finished meanwhile is left alone and the
person is told). When a wizard holds a claim on it, ``work/<ID>.cancel`` asks that wizard's
executor to stop the agent (its process group: SIGTERM, then SIGKILL). The executor archives
the attempt as cancelled; the monitor releases the claim and leaves BLOCKED as it is. Under
``robe run`` the agent stops within about a second; a cron-run executor sees it at its next
rescan.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .errors import RobeError
from .house import House
from .queue import ConflictError, Status, is_valid_id, load
from .queue.api import Queue
from .queue.events import person
from .routing import queue_key


class Cancelled(NamedTuple):
    id: str
    queue: str
    before: str
    after: str
    #: the wizard whose executor was asked to stop its agent (None: nothing was running)
    wizard: str | None
    reason: str

    def text(self) -> str:
        line = f"{self.id}: {self.before} -> {self.after} in {self.queue}"
        if self.wizard:
            line += f"; {self.wizard}'s executor stops its agent (the attempt is archived as cancelled)"
        return line

    def to_dict(self) -> dict:
        return self._asdict()


def cancel(fleet, task_id: str, *, reason: str = "", wizard: str | None = None, by: str | None = None) -> Cancelled:
    """Cancel ``task_id``: BLOCKED in its queue, and its running agent stopped."""
    if not is_valid_id(task_id):
        raise RobeError(f"'{task_id}' is not a task ID; IDs look like TASK-001")
    by = by or person()
    reason = reason or f"cancelled by {by}"
    chosen = [fleet.wizard(wizard)] if wizard else list(fleet.wizards)
    paths = {queue_key(w.queue): w.queue for w in chosen}
    found = [p for p in paths.values() if os.path.exists(p) and task_id in load(p).all_ids]
    if not found:
        raise RobeError(f"{task_id} is in none of the queues of {', '.join(w.name for w in chosen)}")
    if len(found) > 1:
        raise RobeError(f"{task_id} is in {len(found)} queues ({', '.join(found)}); say which wizard with -w")
    path = found[0]
    # The request first, then the queue: an executor that sees the BLOCKED (robe run looks at
    # once) finds the reason given here. Refused by the queue, the request is taken back.
    holder = None
    for w in fleet.wizards:
        house = House(w.house, w.name)
        if not os.path.lexists(house.claim_path(task_id)):
            continue
        rec = house.claim_record(task_id) or {}
        if queue_key(rec.get("queue") if isinstance(rec.get("queue"), str) else w.queue) == queue_key(path):
            house.request_cancel(task_id, reason, by)
            holder = house
            break
    try:
        out = Queue(path).set_status(task_id, Status.BLOCKED, expect=(Status.IN_PROGRESS, Status.PENDING),
                                     reason=f"cancelled: {reason}", by=by)
    except ConflictError as e:
        if holder is not None:
            holder.withdraw_cancel(task_id)
        raise RobeError(f"{e} (only a PENDING or IN_PROGRESS task can be cancelled)") from None
    return Cancelled(task_id, path, out.before.value, out.after.value, holder and holder.wizard, reason)
