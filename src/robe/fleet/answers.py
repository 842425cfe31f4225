"""A task's attempts and answers, wherever they are in the fleet's houses.

What ``robe queue show``, ``robe answer`` and ``robe history`` read. A task is named by its ID
*and* its queue file: two queues may both hold a TASK-001, and one wizard's house may hold
results for tasks of several queues. An attempt belongs to the queue its claim names
(``work/<ID>.active``, or ``work/archive/<ID>.<attempt>.active`` once archived); a result with
no claim to say (a hand-made trigger, an external agent's bare .txt) belongs to the house's
own queue.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..house import House, Result
from ..queue import QueueError, Task, is_valid_id, load
from ..routing import Router, queue_key
from .model import FleetConfig, FleetError, Wizard
from .spend import spend_of


class Attempt(NamedTuple):
    """One attempt at a task that has a result: who ran it, how it ended, where its answer is."""

    wizard: str
    attempt: int | None  # None: a bare .txt whose outcome names none
    status: str  # COMPLETE, FAILED or RETRY
    error: str
    outcome: dict
    house: str
    archived: bool

    @property
    def duration_s(self) -> float | None:
        d = self.outcome.get("duration_s")
        return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None

    def answer(self, task_id: str) -> str | None:
        """The whole answer (the executor caps it at 1 MiB when it writes it)."""
        house = House(self.house, self.wizard)
        return house.read_answer(task_id, self.attempt if self.archived else None)

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "attempt": self.attempt, "status": self.status, "error": self.error or None,
                "duration_s": self.duration_s, "spend": spend_of(self.outcome),
                "started_at": self.outcome.get("started_at"), "finished_at": self.outcome.get("finished_at"),
                "agent": self.outcome.get("agent"), "archived": self.archived}


class Found(NamedTuple):
    """A task, the queue file that holds it, the wizard it routes to (None: nobody), and the
    problems its queue has with it."""

    task: Task
    queue: str
    wizard: str | None
    problems: tuple = ()


def found_in(fleet: FleetConfig | None, snap, task_id: str) -> Found | None:
    """The task ``task_id`` of a parsed queue (also when its errors leave it out), or None."""
    task = snap.get(task_id) or next((t for t in snap.rejected if t.id == task_id), None)
    if task is None:
        return None
    who = Router(fleet, snap.path).route(task).wizard if fleet is not None else None
    return Found(task, snap.path, who, tuple(p for p in snap.problems if p.task_id == task_id))


class TaskRecord(NamedTuple):
    """A task with every attempt that has a result (oldest first) and its live claim, if any."""

    found: Found
    attempts: list
    running: tuple | None  # (wizard, claim) of a claim that has no result yet

    @property
    def latest(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def to_dict(self, head: int = 10) -> dict:
        last = self.latest
        text = last.answer(self.found.task.id) if last else None
        return {"attempts": [a.to_dict() for a in self.attempts], "latest": last.to_dict() if last else None,
                "answer_head": "\n".join(text.split("\n")[:head]) if text else None,
                "running": {"wizard": self.running[0], "attempt": self.running[1].get("attempt"),
                            "claimed_at": self.running[1].get("claimed_at")} if self.running else None}


def task_record(fleet: FleetConfig, found: Found) -> TaskRecord:
    return TaskRecord(found, attempts(fleet, found.queue, found.task.id), running(fleet, found.queue, found.task.id))


def spend_text(outcome: dict) -> str:
    """An attempt's tokens and cost as its agent reported them ("1,234 tokens (1,000 in, 234
    out), $0.0021"), or "" when it reported neither."""
    s = spend_of(outcome)
    tin, tout, total, cost = (s.get(k) for k in ("input_tokens", "output_tokens", "total_tokens", "cost_usd"))
    parts = []
    if total is not None:
        parts.append(f"{total:,} tokens" + (f" ({tin:,} in, {tout:,} out)" if tin is not None and tout is not None
                                            else ""))
    if cost is not None:
        parts.append(f"${cost:.4f}")
    return ", ".join(parts)


def attempts(fleet: FleetConfig, queue_path: str, task_id: str) -> list[Attempt]:
    """Every attempt at the task of ``queue_path`` with a result, in any house, oldest first."""
    key = queue_key(queue_path)
    found = []
    for w in fleet.wizards:
        house = House(w.house, w.name)
        for n in house.archived_result_attempts(task_id):
            res = house.archived_result(task_id, n)
            if res is not None and queue_key(house.claim_queue(task_id, n) or w.queue) == key:
                found.append(_attempt(w, res, n, archived=True))
        res = house.read_result(task_id, bare_grace=0)
        if res is not None and queue_key(house.claim_queue(task_id, res.attempt) or w.queue) == key:
            found.append(_attempt(w, res, res.attempt, archived=False))
    return sorted(found, key=lambda a: (str(a.outcome.get("finished_at") or ""), a.attempt or 0, not a.archived))


def _attempt(w: Wizard, res: Result, attempt: int | None, *, archived: bool) -> Attempt:
    return Attempt(w.name, attempt, res.status, res.error, dict(res.outcome or {}), w.house, archived)


def running(fleet: FleetConfig, queue_path: str, task_id: str) -> tuple[str, dict] | None:
    """(wizard, claim) of a live claim on the task of ``queue_path`` that has no result yet."""
    key = queue_key(queue_path)
    for w in fleet.wizards:
        house = House(w.house, w.name)
        if task_id in house.claim_ids() and not house.has_result(task_id):
            rec = house.claim_record(task_id) or {}
            named = rec.get("queue") if isinstance(rec.get("queue"), str) else w.queue
            if queue_key(named) == key:
                return w.name, rec
    return None


def find_task(fleet: FleetConfig, task_id: str, *, wizard: str | None = None, path: str | None = None) -> Found:
    """The task ``task_id`` of the file at ``path``, else of ``wizard``'s queue, else of whichever
    of the fleet's queues holds it; FleetError when none does, or several do (naming them)."""
    if not is_valid_id(task_id):
        raise FleetError(f"'{task_id}' is not a task ID; IDs look like TASK-001")
    if path is not None:
        paths = [path]
    elif wizard is not None:
        paths = [fleet.wizard(wizard).queue]
    else:
        paths = list(dict.fromkeys(w.queue for w in fleet.wizards))
    hits = []
    for p in paths:
        if path is None and not os.path.exists(p):
            continue
        try:
            snap = load(p, default_priority=fleet.default_priority)
        except QueueError:
            if path is not None:
                raise
            continue
        hit = found_in(fleet, snap, task_id)
        if hit is not None:
            hits.append(hit)
    if not hits:
        where = paths[0] if len(paths) == 1 else "any queue of the fleet"
        raise FleetError(f"{task_id} is not in {where}; 'robe queue list' shows the tasks there are")
    if len(hits) > 1:
        shown = "; ".join(f"{h.queue}:{h.task.line} ({h.wizard or 'no wizard'})" for h in hits)
        raise FleetError(f"{task_id} is in {len(hits)} queues ({shown}); say which with --wizard W "
                         "(that wizard's queue) or -f FILE")
    return hits[0]


def queues_holding(fleet: FleetConfig, task_id: str) -> list[str]:
    """The fleet's queue files (each once) that hold a task ``task_id``."""
    out = []
    for p in dict.fromkeys(w.queue for w in fleet.wizards):
        try:
            snap = load(p, default_priority=fleet.default_priority) if os.path.exists(p) else None
        except QueueError:
            continue
        if snap is not None and (snap.get(task_id) or any(t.id == task_id for t in snap.rejected)):
            out.append(p)
    return out
