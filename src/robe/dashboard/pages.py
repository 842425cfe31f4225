"""What the dashboard's pages show, as plain data: the fleet, one task, the failures, the
metrics and the charts. Read from the fleet's files through robe's own modules on each
request; the board and its queue parses are in ``board``.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import NamedTuple

from ..api import Fleet
from ..charts import fleet_charts
from ..checkpoint import history
from ..clock import now as _now
from ..clock import parse_stamp
from ..fleet.gateway import gateway_status
from ..fleet.spend import spend_of
from ..fleet.status import active_claims, executor_liveness, state_of
from ..house import House, positive_int
from ..queue import Status
from ..queue.events import events_path, read_events
from ..report import compute_metrics
from ..routing import queue_key
from .board import QueueCache

#: the last events shown on a task's page
TASK_EVENTS = 200


class Running(NamedTuple):
    """A claim in a wizard's work/: what runs, since when."""

    task: str
    title: str
    queue: str | None
    attempt: int | None
    since: float  # epoch seconds
    age_s: float


def fleet_rows(fleet: Fleet, cache: QueueCache) -> list[dict]:
    """One row per wizard: the seed's state, gateway, executor, model, port, the tasks routed to
    it by status, and what it runs. (As ``robe status``, but the counts come from the kept
    parses: on a 10,000-task queue shared by three wizards that saves three parses a page.)"""
    counts = routed_counts(cache)
    rows = []
    for w in fleet.wizards:
        gateway = gateway_status(w)
        executor = executor_liveness(w)
        state = state_of(None if gateway.state == "none" else gateway.healthy, executor.alive)
        running = []
        for c in active_claims(w):
            card = _card_routed_to(cache, w.name, c.task)
            since = (_now() - _dt.timedelta(seconds=c.age_s)).timestamp()
            running.append(Running(c.task, card.title if card else "", card.queue if card else None, c.attempt,
                                   since, c.age_s))
        rows.append({"name": w.name, "role": w.role, "state": state, "port": w.port, "agent": w.agent.kind,
                     "model": w.agent.model or "", "gateway": gateway, "executor": executor,
                     "counts": {k: v for k, v in counts.get(w.name, {}).items() if v},
                     "queue_error": cache.view(queue_key(w.queue)).error, "running": running})
    return rows


def routed_counts(cache: QueueCache) -> dict[str, dict[str, int]]:
    """{wizard: {status: n}} over every queue file, by the wizard each task routes to."""
    out: dict[str, dict[str, int]] = {w.name: {s.value: 0 for s in Status} for w in cache.config.wizards}
    for view in cache.views():
        for c in view.cards:
            if c.wizard in out:
                out[c.wizard][c.status] += 1
    return out


def _card_routed_to(cache: QueueCache, wizard: str, task_id: str):
    for view in cache.views():
        for c in view.cards:
            if c.id == task_id and c.wizard == wizard:
                return c
    return None


def _house_of(fleet: Fleet, name: str | None) -> House | None:
    if name is None:
        return None
    w = fleet.wizard(name)
    return House(w.house, w.name)


def task_page(fleet: Fleet, cache: QueueCache, queue_owner: str, task_id: str) -> dict | None:
    """A task whole: prompt, attempts with outcome, duration, tokens and cost, the answer, its
    events and its checkpoint history; None when the queue has no such task."""
    view, task = cache.find(queue_owner, task_id)
    if task is None:
        return None
    card = next(c for c in view.cards if c.id == task.id)
    house = _house_of(fleet, card.wizard)
    attempts, answer, running = [], None, None
    if house is not None:
        attempts = [_attempt(r) for r in _outcomes(house, task.id)]
        latest = house.latest_answer(task.id)  # the current result's, else the newest archived one
        answer = latest[1] if latest else None
        claim = house.claim_record(task.id) if os.path.lexists(house.claim_path(task.id)) else None
        if claim is not None:
            started = parse_stamp(claim.get("claimed_at"))
            running = {"attempt": claim.get("attempt"), "since": started.timestamp() if started else None}
    events = _task_events(fleet, view.path, card.wizard, task.id)
    git_rows = [r for r in history(fleet.config, task.id, [card.wizard] if card.wizard else None)
                if r["source"] == "git"]
    return {"task": task, "card": card, "queue": view.path, "attempts": attempts, "answer": answer,
            "running": running, "events": events[-TASK_EVENTS:], "history": git_rows}


def _outcomes(house: House, task_id: str) -> list[dict]:
    """The task's results in the house, current and archived, by attempt."""
    return sorted(house.outcomes(task_id=task_id), key=lambda r: (positive_int(r.get("attempt"), 0),
                                                                  str(r.get("finished_at") or "")))


def _attempt(r: dict) -> dict:
    spent = spend_of(r)  # tokens and cost as robe's spend counts them
    return {"attempt": r.get("attempt"), "status": r.get("status") or "?", "error": r.get("error") or "",
            "exit_code": r.get("exit_code"), "agent": r.get("agent") or "", "started_at": r.get("started_at") or "",
            "duration_s": r.get("duration_s"), "tokens": spent.get("total_tokens"), "cost": spent.get("cost_usd")}


def _task_events(fleet: Fleet, queue_path: str, wizard: str | None, task_id: str) -> list[dict]:
    paths = [events_path(queue_path)]
    if wizard is not None:
        paths.append(os.path.join(fleet.wizard(wizard).house, "logs", "events.jsonl"))
    out = []
    for p in dict.fromkeys(os.path.realpath(p) for p in paths):
        out += [e for e in read_events(p) if e.get("task") == task_id]
    out.sort(key=lambda e: str(e.get("ts") or ""))
    return out


def fleet_events(fleet: Fleet) -> list[dict]:
    """Every event of every house and beside every queue, oldest first (each file once)."""
    paths = [os.path.join(w.house, "logs", "events.jsonl") for w in fleet.wizards]
    paths += [events_path(w.queue) for w in fleet.wizards]
    out = []
    for p in dict.fromkeys(os.path.realpath(p) for p in paths):
        for e in read_events(p):
            t = parse_stamp(e.get("ts"))
            if t is not None:
                e["_t"] = t
                out.append(e)
    out.sort(key=lambda e: e["_t"])
    return out


def failures(fleet: Fleet, cache: QueueCache) -> list[dict]:
    """Every FAILED task with the reason: the latest event that set it FAILED (the monitor's
    result, or a person's cancel), else its latest result's error."""
    reasons: dict[str, str] = {}
    for e in fleet_events(fleet):
        if e.get("to") == Status.FAILED.value and e.get("from") != Status.FAILED.value and e.get("task"):
            reasons[e["task"]] = e.get("detail") or ""
    rows = []
    for view in cache.views():
        for c in view.cards:
            if c.status != Status.FAILED.value:
                continue
            reason = reasons.get(c.id, "")
            house = _house_of(fleet, c.wizard)
            results = _outcomes(house, c.id) if house is not None else []
            if not reason and results:
                reason = results[-1].get("error") or ""
            rows.append({"card": c, "reason": reason or "(no reason recorded)", "attempts": len(results)})
    return rows


def metrics_and_charts(fleet: Fleet, cache: QueueCache) -> tuple[list[dict], dict[str, str]]:
    """The seed's success metrics against their targets, and the two charts as SVG text."""
    events = fleet_events(fleet)
    # The counts and events the report would gather again, from what this page has read already.
    rows = compute_metrics(fleet.config, _counts=routed_counts(cache), _events_=events)
    return rows, charts(fleet, cache, events)


def charts(fleet: Fleet, cache: QueueCache, events: list[dict] | None = None) -> dict[str, str]:
    """``{"throughput": svg, "burndown": svg}`` for the fleet's queues and event logs now."""
    totals = {s.value: 0 for s in Status}
    for view in cache.views():
        for c in view.cards:
            totals[c.status] += 1
    return fleet_charts(fleet_events(fleet) if events is None else events, totals, _now())
