"""Spend and budgets: what each wizard's agents used (tokens in and out, cost, agent seconds),
and which wizards a daily budget pauses.

Spend is counted from the results the executor wrote, current and archived (the ``spend`` of
every attempt's ``completed/<ID>.json``, docs/contracts.md); nothing else is stored. A day is a
UTC day. A wizard whose spend today reaches its budget (fleet.yaml ``budget:`` under the wizard),
or whose fleet's spend today reaches the fleet's ``budget:``, is paused: the dispatcher gives it
no new claims until the next UTC midnight, or until the budget is raised. Work already running
goes on (the executor alone stops an agent, when it reports more than ``tokens_per_task``).

Results are found by the time their file was written (an outcome is written once, when its
attempt ends, and archiving keeps that time), with an hour's slack for a clock that differs; the
outcome's own ``finished_at`` then decides the day.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import NamedTuple

from ..clock import now as _now
from ..clock import parse_stamp, stamp
from ..house import House
from ..routing import queue_key

DAY = _dt.timedelta(days=1)
#: how much earlier than the window a result's file may have been written and still count
MTIME_SLACK_S = 3600.0
#: the daily limits, in the order a pause names the first one reached
DAILY = ("tokens_per_day", "cost_per_day", "seconds_per_day")


class Attempt(NamedTuple):
    """One attempt's spend, as its result records it (None: the agent did not report it)."""

    wizard: str
    task: str
    attempt: int | None
    status: str
    finished_at: _dt.datetime
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    seconds: float
    reported_by: str | None

    def to_dict(self) -> dict:
        d = self._asdict()
        d["finished_at"] = stamp(self.finished_at)
        return d


def _num(value, kind=float):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return kind(value)


def spend_of(outcome: dict) -> dict:
    """An outcome's ``spend``; for a result written before robe recorded spend, what its
    ``usage`` and ``duration_s`` say."""
    s = outcome.get("spend")
    if isinstance(s, dict):
        return s
    u = outcome.get("usage") if isinstance(outcome.get("usage"), dict) else {}
    tin = _num(u.get("input_tokens", u.get("prompt_tokens")), int)
    tout = _num(u.get("output_tokens", u.get("completion_tokens")), int)
    total = _num(u.get("total_tokens"), int)
    if total is None and (tin is not None or tout is not None):
        total = (tin or 0) + (tout or 0)
    cost = None if u.get("cost_status") == "unknown" else _num(u.get("estimated_cost_usd", u.get("cost")))
    return {"input_tokens": tin, "output_tokens": tout, "total_tokens": total, "cost_usd": cost,
            "seconds": _num(outcome.get("duration_s")) or 0.0, "reported_by": "usage" if u else None}


def attempt_of(wizard: str, outcome: dict) -> Attempt | None:
    """The outcome as an Attempt; None when it says no time it finished."""
    finished = parse_stamp(outcome.get("finished_at")) or parse_stamp(outcome.get("started_at"))
    if finished is None:
        return None
    s = spend_of(outcome)
    attempt = outcome.get("attempt") if isinstance(outcome.get("attempt"), int) else None
    return Attempt(wizard, str(outcome.get("id")), attempt, str(outcome.get("status") or ""), finished,
                   _num(s.get("input_tokens"), int), _num(s.get("output_tokens"), int),
                   _num(s.get("total_tokens"), int), _num(s.get("cost_usd")), _num(s.get("seconds")) or 0.0,
                   s.get("reported_by") if isinstance(s.get("reported_by"), str) else None)


def attempts(w, since: _dt.datetime, until: _dt.datetime | None = None) -> list[Attempt]:
    """The attempts of wizard ``w`` that finished in [since, until), oldest first."""
    house = House(w.house, w.name)
    found = []
    for outcome in house.outcomes(since=since.timestamp() - MTIME_SLACK_S):
        a = attempt_of(w.name, outcome)
        if a is not None and a.finished_at >= since and (until is None or a.finished_at < until):
            found.append(a)
    return sorted(found, key=lambda a: (a.finished_at, a.task))


@dataclass
class Totals:
    """Spend summed over attempts. ``priced``: how many of them reported a cost (the others'
    cost is unknown, not zero); ``reported``: how many reported tokens."""

    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    priced: int = 0
    reported: int = 0

    def add(self, a: Attempt) -> "Totals":
        self.attempts += 1
        self.input_tokens += a.input_tokens or 0
        self.output_tokens += a.output_tokens or 0
        self.total_tokens += a.total_tokens or 0
        self.seconds += a.seconds
        if a.total_tokens is not None:
            self.reported += 1
        if a.cost_usd is not None:
            self.cost_usd += a.cost_usd
            self.priced += 1
        return self

    def used(self, limit: str) -> float:
        return {"tokens_per_day": self.total_tokens, "cost_per_day": self.cost_usd,
                "seconds_per_day": self.seconds}[limit]

    @classmethod
    def from_dict(cls, d: dict) -> "Totals":
        """The Totals ``to_dict`` gave (as ``robe spend --json`` and the report's data hold them)."""
        return cls(d["attempts"], d["input_tokens"], d["output_tokens"], d["total_tokens"], d["cost_usd"],
                   d["seconds"], d["priced_attempts"], d["reported_attempts"])

    def to_dict(self) -> dict:
        return {"attempts": self.attempts, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.total_tokens, "cost_usd": round(self.cost_usd, 6),
                "seconds": round(self.seconds, 3), "priced_attempts": self.priced,
                "reported_attempts": self.reported}


def totals(items) -> Totals:
    t = Totals()
    for a in items:
        t.add(a)
    return t


def day_start(moment: _dt.datetime) -> _dt.datetime:
    """Midnight UTC of ``moment``'s day."""
    m = moment.astimezone(_dt.timezone.utc)
    return m.replace(hour=0, minute=0, second=0, microsecond=0)


def spend_by_wizard(fleet, names=None, *, since: _dt.datetime, until: _dt.datetime | None = None) -> dict[str, Totals]:
    """{wizard: Totals} over [since, until) for ``names`` (every wizard when None)."""
    chosen = [fleet.wizard(n) for n in dict.fromkeys(names)] if names else list(fleet.wizards)
    return {w.name: totals(attempts(w, since, until)) for w in chosen}


def task_attempts(fleet, task_id: str, queue_path: str) -> list[Attempt]:
    """Every attempt at task ``task_id`` of the queue file ``queue_path``, in any house: a result
    counts when its claim named that queue (or, with no claim left to say, the house's queue is it)."""
    key = queue_key(queue_path)
    found = []
    for w in fleet.wizards:
        house = House(w.house, w.name)
        for outcome in house.outcomes(task_id=task_id):
            a = attempt_of(w.name, outcome)
            if a is None:
                continue
            named = house.claim_queue(task_id, a.attempt)
            if queue_key(named or w.queue) == key:
                found.append(a)
    return sorted(found, key=lambda a: (a.finished_at, a.wizard))


# --- budgets ---------------------------------------------------------------------------------


def _amount(limit: str, value: float) -> str:
    if limit == "cost_per_day":
        return f"${value:,.2f}"
    if limit == "seconds_per_day":
        return f"{value:,.0f} s of agent time"
    return f"{int(value):,} tokens"


class Pause(NamedTuple):
    """A wizard that gets no new claims today: which budget (its own or the fleet's), which limit,
    what was used, and when it resumes (the next UTC midnight, or sooner if the budget is raised)."""

    wizard: str
    scope: str  # "wizard" or "fleet"
    limit: str
    used: float
    allowed: float
    until: _dt.datetime

    @property
    def reason(self) -> str:
        whose = "its" if self.scope == "wizard" else "the fleet's"
        return (f"paused by {whose} budget: {_amount(self.limit, self.used)} used today (UTC) of {whose} "
                f"{self.limit} of {_amount(self.limit, self.allowed)}; no new claims until "
                f"{self.until.strftime('%Y-%m-%d %H:%M')} UTC, or until the budget is raised in fleet.yaml")

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "scope": self.scope, "limit": self.limit, "used": round(self.used, 6),
                "allowed": self.allowed, "until": stamp(self.until), "reason": self.reason}


def over(budget, spent: Totals) -> tuple[str, float, float] | None:
    """The first daily limit of ``budget`` that ``spent`` has reached: (limit, used, allowed)."""
    for limit in DAILY:
        allowed = getattr(budget, limit)
        if allowed is not None and spent.used(limit) >= allowed:
            return limit, spent.used(limit), allowed
    return None


def pauses(fleet, names=None, *, now: _dt.datetime | None = None) -> dict[str, Pause]:
    """{wizard: Pause} for the wizards among ``names`` (all when None) that a daily budget pauses
    now. Houses are read only when a budget is set (all of them for the fleet's)."""
    moment = now or _now()
    start = day_start(moment)
    until = start + DAY
    chosen = [fleet.wizard(n) for n in dict.fromkeys(names)] if names else list(fleet.wizards)
    fleet_wide = any(v is not None for v in (getattr(fleet.budget, k) for k in DAILY))
    need = list(fleet.wizards) if fleet_wide else [w for w in chosen if w.budget]
    today = {w.name: totals(attempts(w, start)) for w in need}
    out: dict[str, Pause] = {}
    hit = over(fleet.budget, totals_of(today.values())) if fleet_wide else None
    for w in chosen:
        own = over(w.budget, today[w.name]) if w.budget and w.name in today else None
        if own is not None:
            out[w.name] = Pause(w.name, "wizard", *own, until)
        elif hit is not None:
            out[w.name] = Pause(w.name, "fleet", *hit, until)
    return out


def totals_of(parts) -> Totals:
    """Several Totals summed."""
    t = Totals()
    for p in parts:
        t.attempts += p.attempts
        t.input_tokens += p.input_tokens
        t.output_tokens += p.output_tokens
        t.total_tokens += p.total_tokens
        t.cost_usd += p.cost_usd
        t.seconds += p.seconds
        t.priced += p.priced
        t.reported += p.reported
    return t


def parse_since(text: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """``24h``, ``30m``, ``7d``, ``90s`` (that long ago), ``today`` (UTC midnight), or an ISO
    date or time (UTC unless it says otherwise); ValueError with the fix otherwise."""
    moment = now or _now()
    t = (text or "").strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if t == "today":
        return day_start(moment)
    if len(t) > 1 and t[-1] in units and t[:-1].replace(".", "", 1).isdigit():
        return moment - _dt.timedelta(seconds=float(t[:-1]) * units[t[-1]])
    when = parse_stamp(text.strip())
    if when is None:
        raise ValueError(f"{text!r} is not a time; write 24h, 30m, 7d, today, or a date such as 2026-11-23")
    return when


def summary(fleet, names=None, *, since: _dt.datetime, now: _dt.datetime | None = None,
            with_attempts: bool = False) -> dict:
    """What ``robe spend`` shows: per wizard (``names``, all when None) and for the fleet, the spend
    since ``since`` and today (UTC), the budget, and the pause if one applies."""
    moment = now or _now()
    chosen = [fleet.wizard(n) for n in dict.fromkeys(names)] if names else list(fleet.wizards)
    window = {w.name: attempts(w, since, moment) for w in chosen}
    today = spend_by_wizard(fleet, [w.name for w in chosen], since=day_start(moment))
    paused = pauses(fleet, [w.name for w in chosen], now=moment)
    rows = []
    for w in chosen:
        row = {"wizard": w.name, **totals(window[w.name]).to_dict(), "today": today[w.name].to_dict(),
               "budget": w.budget.to_dict(), "paused": paused[w.name].to_dict() if w.name in paused else None}
        if with_attempts:
            row["attempts_list"] = [a.to_dict() for a in window[w.name]]
        rows.append(row)
    fleet_today = totals_of(spend_by_wizard(fleet, since=day_start(moment)).values()) if fleet.budget else None
    return {"since": stamp(since), "until": stamp(moment), "wizards": rows,
            "total": totals(a for w in chosen for a in window[w.name]).to_dict(),
            "fleet_budget": fleet.budget.to_dict(),
            "fleet_today": fleet_today.to_dict() if fleet_today is not None else None}


# --- how spend reads -------------------------------------------------------------------------


def cost_text(t: Totals) -> str:
    """``$1.23``; ``-`` when no attempt reported a cost; the share priced when only some did."""
    if not t.priced:
        return "-"
    text = f"${t.cost_usd:,.2f}" if t.cost_usd >= 0.01 or not t.cost_usd else f"${t.cost_usd:.4f}"
    return text if t.priced == t.attempts else f"{text} ({t.priced} of {t.attempts} priced)"


def seconds_text(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def tokens_text(n: int, reported: int) -> str:
    return f"{n:,}" if reported else "-"


def brief(t: Totals) -> str:
    """``1,400 tokens, $0.25, 12 s``: what was reported, and the agent time always."""
    if not t.attempts:
        return "nothing"
    parts = [f"{t.total_tokens:,} tokens"] if t.reported else []
    parts += [cost_text(t)] if t.priced else []
    return ", ".join(parts + [seconds_text(t.seconds)])


def budget_text(budget) -> str:
    """A budget's limits in a few words (``-`` for none)."""
    parts = []
    if budget.tokens_per_day is not None:
        parts.append(f"{budget.tokens_per_day:,} tokens/day")
    if budget.cost_per_day is not None:
        parts.append(f"${budget.cost_per_day:,.2f}/day")
    if budget.seconds_per_day is not None:
        parts.append(f"{seconds_text(budget.seconds_per_day)}/day")
    if budget.tokens_per_task is not None:
        parts.append(f"{budget.tokens_per_task:,} tokens/task")
    return ", ".join(parts) or "-"
