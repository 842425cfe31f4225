"""One monitor run (``task-monitor``): fold results into WORK-QUEUE.md, reap dead claims, fix orphans.

The steps, for the chosen wizards:

1. Take each wizard's ``logs/dispatch.lock`` (the dispatcher's run lock; waiting up to
   ``lock_timeout``). While the monitor moves a wizard's claims, no dispatch run of that
   wizard can read a half-folded house: it would see a claim whose task the monitor has just
   set back to PENDING and "repair" it to IN_PROGRESS.
2. Look at every house once, read the queue files once, and decide each transition:
   a claim with a result (COMPLETE, FAILED, RETRY, or a bare ``.txt`` older than
   ``bare_grace``), a claim whose lease ran out while its executor is dead (reap), a result
   whose task is gone, and IN_PROGRESS tasks with neither claim nor result (orphans, after
   ``orphan_grace``).
3. Write every status change of one queue file in ONE locked write.
4. Only then, per transition: the event line, the claim to ``work/archive/``, the result to
   ``completed/archive/`` (claim first: an executor runs a claim that has no result).

Crash safety comes from that order. Killed before 3: nothing happened. Killed after 3: the
next run finds claims whose task already has the target status and only writes the missing
event (it checks the log) and archives. Killed between the claim and the result move: the
result's attempt is already in ``work/archive/``, so it is archived, not applied again.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from .broker import BrokerError, broker_for, ingest
from .clock import now as _now
from .errors import RobeError
from .fleet import alerts
from .house import BARE_GRACE_S, House, HouseError, Result, cancel_reason
from .inbox import answer_message, inbox_for
from .plumbing import fsync_dir, host
from .queue import QUIET_S, Change, QueueError, Snapshot, Status, set_statuses
from .queue.asks import ask_of, question_of
from .queue.cache import Snapshots
from .queue.events import append_event, events_path, read_events
from .routing import Router, queue_key

log = logging.getLogger(__name__)
ORPHAN_GRACE_S = 120.0
#: a task gone from a queue file changed less than this long ago may come back (a person moving
#: it, an editor half way through a save): its claim and result wait for it
VANISH_GRACE_S = 600.0
LOCK_TIMEOUT_S = 30.0
#: what the monitor writes in the event log's ``event`` key
RESULT, RETRY, REAP, ORPHAN, VANISHED, LEFT, ARCHIVED = "result", "retry", "reap", "orphan", "vanished", "left", "archived"
KEPT, RESTORED, CANCELLED = "kept", "restored", "cancelled"


@dataclass(frozen=True)
class Transition:
    """One thing the run did (or found), printed as one line."""

    wizard: str
    task: str
    kind: str
    from_: str | None
    to: str | None
    attempt: int | None
    detail: str = ""
    archived: tuple = ()

    def line(self) -> str:
        a = f" (attempt {self.attempt})" if self.attempt else ""
        if self.kind in (LEFT, ARCHIVED, VANISHED, KEPT, CANCELLED):
            return f"{self.wizard}: {self.task} {self.kind}{a}: {self.detail}"
        return f"{self.wizard}: {self.task} {self.from_} -> {self.to}{a}: {self.detail}"

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "task": self.task, "kind": self.kind, "from": self.from_, "to": self.to,
                "attempt": self.attempt, "detail": self.detail, "archived": list(self.archived)}


@dataclass
class MonitorReport:
    transitions: list[Transition] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: queue files rewritten (the benchmark counts them)
    writes: int = 0
    #: agent process groups of reaped claims that were still running, killed
    killed: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def to_dict(self) -> dict:
        return {"transitions": [t.to_dict() for t in self.transitions], "busy": self.busy, "errors": self.errors,
                "queue_writes": self.writes, "killed": self.killed, "exit_code": self.exit_code}


@dataclass(frozen=True)
class _Item:
    """A decided transition, before the queue write."""

    kind: str  # RESULT, REAP, ORPHAN, CANCELLED (archive only), or "folded" (the queue already has it: archive only)
    wizard: object  # the Wizard, or None for an orphan nobody's house holds
    task: str
    qkey: str
    qpath: str
    target: Status | None
    expect: tuple
    attempt: int
    detail: str
    claim: bool = False
    result: bool = False
    result_attempt: int = 0
    event_kind: str = RESULT
    events: str = ""


@dataclass
class _QueueFile:
    path: str
    snapshot: Snapshot | None = None
    error: str | None = None
    mtime: float | None = None
    #: how long it must have been quiet before it is written (0: robe run saw the save end)
    quiet: float = QUIET_S
    #: told of robe's own write (Snapshots.wrote)
    written: object = None
    _by_id: dict | None = None

    def by_id(self) -> dict:
        if self._by_id is None:
            self._by_id = self.snapshot.by_id() if self.snapshot is not None else {}
        return self._by_id


def _quiet(_line: str) -> None:
    pass


# --- one house -------------------------------------------------------------------------------


class _House:
    """What the run learned about one wizard's house, read lazily and once."""

    def __init__(self, w, t: float, now: _dt.datetime):
        self.w, self.t, self.now = w, t, now
        self.house = House(w.house, w.name)
        self.claims = self.house.claim_ids()
        self.results = self.house.result_ids()
        self.events = self.house.events
        self._archived = None
        self._retries = None
        self._executor = None
        self._seen = None
        #: folders whose entries this run moved: fsynced once at the end
        self.touched: set[str] = set()
        #: the wizard runs on another machine: its claims live while the broker holds them (a
        #: claim whose executor died is taken over there, and that comes back as a result)
        self.remote = False

    def archived(self) -> dict[str, int]:
        if self._archived is None:
            self._archived = self.house.archived_attempts()
        return self._archived

    def retries(self, tid: str, before: int) -> int:
        """Earlier attempts that ended in RETRY (exit 75): they count as no failure."""
        if self._retries is None:
            self._retries = self.house.retried_attempts()
        return sum(1 for k in self._retries.get(tid, ()) if k < before)

    def executor(self):
        if self._executor is None:
            self._executor = self.house.executor(at=self.now)
        return self._executor

    def has_event(self, tid: str, attempt: int, to: str | None) -> bool:
        if self._seen is None:
            self._seen = {(e.get("task"), e.get("attempt"), e.get("to")) for e in read_events(self.events)
                          if str(e.get("by", "")).startswith("monitor:") and e.get("event") in (RESULT, RETRY, REAP)}
        return (tid, attempt, to) in self._seen


# --- deciding --------------------------------------------------------------------------------


def _after_failure(h: _House, tid: str, attempt: int, reason: str, what: str) -> tuple[Status, str, str]:
    failures = attempt - h.retries(tid, attempt)
    most = h.w.max_attempts
    if failures < most:
        return Status.PENDING, RETRY, f"{what}: {reason}; attempt {attempt}, {failures} of {most} failures: runs again"
    return Status.FAILED, RESULT, f"{what}: {reason}; {failures} of {most} failures: no attempts left"


def _plan_house(h: _House, bare_grace: float, known: dict[str, str]) -> list[_Item]:
    """``known``: queue key -> path of the fleet's queue files (a claim may name only one of them)."""
    w, house, t = h.w, h.house, h.t
    items: list[_Item] = []
    results = set(h.results)
    for tid in h.claims:
        rec = house.claim_record(tid) or {}
        # The claim names its queue file; one that is not a queue of this fleet is never written.
        qkey, qpath = _queue_of(rec, w, known)
        attempt = _positive(rec.get("attempt")) or h.archived().get(tid, 0) + 1
        common = dict(wizard=w, task=tid, qkey=qkey, qpath=qpath, attempt=attempt, claim=True,
                      events=h.events)
        if tid in results:
            res = house.read_result(tid, at=t, bare_grace=bare_grace)
            if res is None:
                continue
            target, kind, detail = _decide(h, tid, attempt, res)
            # (the target too: a run stopped after its write finds it already applied)
            items.append(_Item(RESULT if target else CANCELLED, target=target, expect=_expect(target, rec),
                               detail=detail, result=True, event_kind=kind, result_attempt=res.attempt or attempt,
                               **common))
            continue
        if h.remote:
            continue
        lease = _positive(rec.get("lease_s")) or w.lease
        if house.claim_live(tid, lease, False, at=t) or h.executor().alive:
            continue
        sign = house.last_sign(tid)
        if sign is None:
            continue
        why = (f"lease of {lease} s ran out ({t - sign:.0f} s since the last heartbeat) and the executor is gone "
               f"({h.executor().detail})")
        target, kind, detail = _after_failure(h, tid, attempt, why, "reaped")
        items.append(_Item(REAP, target=target, expect=_expect(target, rec), detail=detail, event_kind=REAP,
                           **common))
    for tid in sorted(results - set(h.claims)):
        res = house.read_result(tid, at=t, bare_grace=bare_grace)
        if res is None:
            continue
        attempt = res.attempt or h.archived().get(tid, 1)
        target, kind, detail = _decide(h, tid, attempt, res)
        folded = "folded" if house.claim_archived(tid, attempt) else RESULT
        items.append(_Item(folded if target else CANCELLED, w, tid, queue_key(w.queue),
                           w.queue, target, (Status.IN_PROGRESS,), attempt, detail, claim=False, result=True,
                           result_attempt=attempt, event_kind=kind, events=h.events))
    return items


def _queue_of(claim: dict, w, known: dict[str, str]) -> tuple[str, str]:
    """The key and path of the queue file a claim names when it is one of the fleet's (``known``:
    key -> path), else of the house's own queue."""
    named = claim.get("queue") if isinstance(claim.get("queue"), str) else None
    if named:
        key = named if named in known else queue_key(named)  # (claims name the real path: a key)
        if key in known:
            return key, known[key]
    return queue_key(w.queue), w.queue


def _positive(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _expect(target: Status | None, claim: dict) -> tuple[Status, ...]:
    """The statuses a transition to ``target`` may replace: IN_PROGRESS, and PENDING while the
    dispatcher had not yet marked the claim (once marked, a PENDING is a person's: it stays)."""
    if target is None:
        return ()
    pending = () if claim.get("marked_at") else (Status.PENDING,)
    return tuple(dict.fromkeys((Status.IN_PROGRESS, *pending, target)))


def _decide(h: _House, tid: str, attempt: int, res: Result) -> tuple[Status | None, str, str]:
    """The status a result gives its task (None: a cancelled attempt leaves the person's), the
    event and the detail."""
    if res.status == "CANCELLED":
        return None, CANCELLED, f"cancelled ({res.error or 'by a person'}); the agent was stopped, no failure counted"
    if res.status == "COMPLETE":
        return Status.COMPLETE, RESULT, "result COMPLETE" if res.attempt else "result COMPLETE (a bare .txt)"
    if res.status == "RETRY":
        return Status.PENDING, RETRY, f"the agent asked to run later ({res.error or 'exit code 75'}); no failure counted"
    return _after_failure(h, tid, attempt, res.error or "no reason given", "result FAILED")


def _plan_cancels(houses: dict, items: list[_Item], qfiles: dict, known: dict[str, str]) -> list[_Item]:
    """Claims without a result whose task a person cancelled in the queue (house.cancel_reason)
    while no executor of the house is alive to stop them: released (archived), the person's
    status left as it is, and an agent still running from a dead executor killed."""
    planned = {(it.wizard.name, it.task) for it in items if it.wizard is not None}
    out = []
    for h in houses.values():
        if h.executor().alive:
            continue  # the executor sees the cancel itself and writes a CANCELLED result
        for tid in h.claims:
            if (h.w.name, tid) in planned or tid in h.results:
                continue
            rec = h.house.claim_record(tid) or {}
            qkey, qpath = _queue_of(rec, h.w, known)
            qf = qfiles.get(qkey)
            if qf is None or qf.snapshot is None:
                continue
            task = qf.by_id().get(tid)
            reason = cancel_reason(task.status if task is not None else None, rec)
            if reason is None:
                continue
            attempt = _positive(rec.get("attempt")) or h.archived().get(tid, 0) + 1
            out.append(_Item(CANCELLED, h.w, tid, qkey, qpath, None, (), attempt,
                             f"cancelled ({reason}) with no executor running it; claim released", claim=True,
                             event_kind=CANCELLED, events=h.events))
    return out


def _plan_orphans(fleet, selected: set, qfiles: dict, houses: dict, t: float, orphan_grace: float) -> list[_Item]:
    """IN_PROGRESS tasks with no claim and no result in any house, quiet for ``orphan_grace``."""
    held = set()
    for w in fleet.wizards:
        if w.name in houses:
            held.update(houses[w.name].claims, houses[w.name].results)
        else:
            house = House(w.house, w.name)
            held.update(house.claim_ids(), house.result_ids())
    items = []
    signs: dict[str, float] | None = None
    for key, qf in qfiles.items():
        if qf.snapshot is None:
            continue
        router = None
        for task in qf.snapshot.tasks:
            if task.status is not Status.IN_PROGRESS or task.id in held:
                continue
            router = router or Router(fleet, qf.path)
            r = router.route(task)
            w = next((x for x in fleet.wizards if x.name == r.wizard), None)
            if w is None or w.name not in selected:
                continue  # another wizard's task (its own run handles it), or nobody's
            restored = _restore(houses[w.name], task.id, key, qf.path)
            if restored is not None:
                items.append(restored)
                continue
            if signs is None:
                signs = _last_signs(fleet, qfiles)
            last = signs.get(task.id, qf.mtime or t)
            if t - last <= orphan_grace:
                continue
            ev = houses[w.name].events
            attempt = houses[w.name].archived().get(task.id)
            items.append(_Item(ORPHAN, w, task.id, key, qf.path, Status.PENDING, (Status.IN_PROGRESS,),
                               attempt or 0, f"IN_PROGRESS with no claim and no result for {t - last:.0f} s: "
                               "back to PENDING", event_kind=ORPHAN, events=ev))
    return items


def _restore(h: _House, tid: str, key: str, qpath: str) -> _Item | None:
    """An IN_PROGRESS task with no claim whose latest attempt already ended: an editor saved a
    copy from while it ran. It gets that attempt's final status back, and does not run again."""
    attempt = h.archived().get(tid)
    res = h.house.archived_result(tid, attempt) if attempt else None
    if res is None:
        return None
    target, _, _ = _decide(h, tid, attempt, res)
    if target in (None, Status.PENDING):
        return None  # attempts remain (or it was cancelled): the orphan rule sends it back to PENDING
    return _Item(RESTORED, h.w, tid, key, qpath, target, (Status.IN_PROGRESS,), attempt,
                 f"IN_PROGRESS again with no claim, but attempt {attempt} already ended {target.value} (an editor "
                 f"saved a copy from while it ran): {target.value} again, not run twice", event_kind=RESTORED,
                 events=h.events)


def _last_signs(fleet, qfiles) -> dict[str, float]:
    """Per task ID, the time of its latest event in any house or beside any queue."""
    out: dict[str, float] = {}
    paths = {os.path.join(w.house, "logs", "events.jsonl") for w in fleet.wizards}
    paths |= {events_path(qf.path) for qf in qfiles.values()}
    for p in paths:
        for e in read_events(p):
            tid, ts = e.get("task"), e.get("ts")
            if not isinstance(tid, str) or not isinstance(ts, str):
                continue
            try:
                when = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if when > out.get(tid, 0):
                out[tid] = when
    return out


# --- the run ---------------------------------------------------------------------------------


def monitor(fleet, wizards=None, *, now: _dt.datetime | None = None, bare_grace: float = BARE_GRACE_S,
            orphan_grace: float = ORPHAN_GRACE_S, lock_timeout: float = LOCK_TIMEOUT_S,
            out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet,
            queues: Snapshots | None = None) -> MonitorReport:
    """One monitor run for ``wizards`` (names; all of the fleet when None). ``queues``: the
    parsed queue files to reuse (robe run's; by default each file is parsed once per run)."""
    report = MonitorReport()
    queues = queues if queues is not None else Snapshots()
    now = now or _now()
    t = now.timestamp()
    chosen = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    by = f"monitor:{host()}:{os.getpid()}"
    fds = []
    broker: list = []  # [the Broker] once connected, [None] once it failed this run
    try:
        houses: dict[str, _House] = {}
        for w in sorted(chosen, key=lambda x: x.name):  # one order for every monitor: no deadlock
            if not os.path.isdir(w.house):
                err(f"{w.name}: no house at {w.house}; nothing to monitor (create it with 'robe wizard create {w.name}')")
                continue
            house = House(w.house, w.name)
            try:
                fd = house.dispatch_lock(lock_timeout)
            except OSError as e:
                report.errors.append(f"{w.name}: cannot take its dispatch lock: {e.strerror or e}")
                err(report.errors[-1])
                continue
            if fd is None:
                report.busy.append(w.name)
                err(f"{w.name}: busy (a dispatch run held {house.dispatch_lock_file} for {lock_timeout:g} s); "
                    "left for the next run")
                continue
            fds.append(fd)
            try:
                house.check()
            except HouseError as e:  # a folder that leads outside the house: nothing of it is moved
                report.errors.append(f"{w.name}: {e}")
                err(report.errors[-1])
                continue
            remote = bool(getattr(fleet, "broker", None)) and fleet.via_broker(w)
            if remote:
                _take_in(fleet, w, broker, report, by=by, err=err)
            houses[w.name] = _House(w, t, now)
            houses[w.name].remote = remote
        items: list[_Item] = []
        known = {queue_key(w.queue): w.queue for w in fleet.wizards}
        for h in houses.values():
            try:
                items += _plan_house(h, bare_grace, known)
            except OSError as e:
                report.errors.append(f"{h.w.name}: {e}")
                err(report.errors[-1])
        qfiles = _read_queues(houses, items, queues, fleet.default_priority)
        for qf in qfiles.values():
            if qf.error and os.path.lexists(qf.path):  # there, but unreadable: say so (nothing is folded into it)
                report.errors.append(qf.error)
                err(qf.error)
        if houses:
            items += _plan_cancels(houses, items, qfiles, known)
            items += _plan_orphans(fleet, set(houses), qfiles, houses, t, orphan_grace)
        try:
            _apply(items, qfiles, houses, report, by=by, out=out, err=err,
                   inboxes=({w.name: w.house for w in fleet.wizards}, fleet.root))
        finally:
            for h in houses.values():
                for folder in sorted(h.touched):
                    try:
                        fsync_dir(folder)
                    except FileNotFoundError:
                        pass
        return report
    finally:
        for fd in fds:
            os.close(fd)
        # After the locks: a slow webhook never holds up a dispatch.
        alerts.notify(fleet, [alerts.failed(t.wizard, t.task, t.attempt, t.detail) for t in report.transitions
                              if t.to == "FAILED" and t.kind in (RESULT, REAP)])


def _take_in(fleet, w, broker: list, report: MonitorReport, *, by, err) -> None:
    """The results and takeovers other machines sent for ``w``, into its house here (under its
    dispatch lock, which the run holds). The broker down: said once, and the rest of the run
    goes on with what is in the houses; the next run takes them in."""
    if broker and broker[0] is None:
        return
    try:
        if not broker:
            broker.append(broker_for(fleet))
        got = ingest(broker[0], [w], by=by)
    except (BrokerError, RobeError) as e:
        if not broker:
            broker.append(None)
        broker[:] = [None]
        report.errors.append(f"{e}; results from other machines are not folded this run (they wait on the broker; "
                             "the next run takes them in)")
        err(report.errors[-1])
        return
    if got.results or got.lost or got.late:
        log.info("wizard %s: from the broker: %d results, %d takeovers, %d late", w.name, got.results, got.lost,
                 got.late)


def _read_queues(houses, items, reader: Snapshots, default_priority: str) -> dict[str, _QueueFile]:
    paths = {queue_key(h.w.queue): h.w.queue for h in houses.values()}
    for it in items:
        paths.setdefault(it.qkey, it.qpath)
    out = {}
    for key, path in paths.items():
        qf = _QueueFile(path, mtime=_mtime(path), quiet=reader.quiet_for(path), written=reader.wrote)
        if os.path.exists(path):
            try:
                qf.snapshot = reader.read(path, default_priority)
            except QueueError as e:
                qf.error = str(e)
        out[key] = qf
    return out


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _write(qf: _QueueFile, changes: list[Change]):
    """One locked write, on the parse this run made while the file is still what it read."""
    outcomes = set_statuses(qf.path, changes, known=qf.snapshot, quiet=qf.quiet, written=qf.written,
                            parse_kwargs={"default_priority": qf.snapshot.default_priority} if qf.snapshot else None)
    return outcomes, any(o.applied and o.before != o.after for o in outcomes)


def _apply(items: list[_Item], qfiles: dict, houses: dict, report: MonitorReport, *, by, out, err,
           inboxes: tuple[dict, str] = ({}, "")) -> None:
    by_queue: dict[str, list[_Item]] = {}
    for it in items:
        by_queue.setdefault(it.qkey, []).append(it)
    for key, group in by_queue.items():
        qf = qfiles[key]
        writes = [it for it in group if it.kind not in ("folded", CANCELLED)]
        outcomes = {}
        if writes:
            if qf.snapshot is None and qf.error is None and not os.path.exists(qf.path):
                qf.error = f"{qf.path} does not exist"
            try:
                if qf.error and not os.path.exists(qf.path):
                    raise QueueError(qf.error)
                res, wrote = _write(qf, [Change(it.task, it.target, it.expect) for it in writes])
                report.writes += int(wrote)
                outcomes = {id(it): o for it, o in zip(writes, res)}
            except QueueError as e:
                report.errors.append(f"{qf.path}: {e}; nothing of it archived, the next run tries again")
                err(report.errors[-1])
                continue
        for it in group:
            try:
                _deliver(it, outcomes.get(id(it)), qf, houses, inboxes)
            except (OSError, ValueError, RobeError) as e:  # the result stays: the next run delivers, then archives
                report.errors.append(f"{it.task}: could not deliver its answer to the asker's inbox: {e}; "
                                     "the next run tries again")
                err(report.errors[-1])
                continue
            try:
                _finish(it, outcomes.get(id(it)), qf, houses, report, by=by, out=out)
            except (OSError, ValueError) as e:
                report.errors.append(f"{it.task}: could not archive: {e}")
                err(report.errors[-1])
            except Exception as e:  # a bug with one item must not cost the others theirs
                log.exception("task %s: the monitor failed on it", it.task)
                report.errors.append(f"{it.task}: the monitor failed on it: {e!r}")
                err(report.errors[-1])


def _deliver(it: _Item, o, qf: _QueueFile, houses: dict, inboxes: tuple[dict, str]) -> None:
    """An ask's answer to its asker's inbox (docs/contracts.md), once its task is COMPLETE, or
    FAILED for good. Before the result is archived; delivering twice writes one message."""
    if it.target not in (Status.COMPLETE, Status.FAILED) or qf.snapshot is None:
        return
    if not (it.result or it.kind == REAP):
        return
    if it.kind != "folded" and (o is None or not o.applied):
        return
    task = qf.by_id().get(it.task)
    ask = ask_of(task) if task is not None else None
    if ask is None:
        return
    house = houses[it.wizard.name].house
    res = house.read_result(it.task, bare_grace=0.0) if it.result else None
    message = answer_message(
        sender=it.wizard.name, to=ask.asked_by, task_id=it.task, queue=qf.path, status=it.target.value,
        attempt=it.result_attempt or it.attempt or 1, title=task.title, question=question_of(task),
        answer=(house.read_answer(it.task) if it.result else None) or "",
        error=None if it.target is Status.COMPLETE else ((res.error if res is not None else "") or it.detail),
        ask_task=ask.task, chain=ask.chain)
    inbox_for(ask.asked_by, *inboxes).deliver(message)


def _kill_leftover(h: _House, it: _Item, report: MonitorReport) -> None:
    """A reaped claim's agent may outlive its dead executor: kill its process group (same
    host, same pid and start time, as the heartbeat records them), so the task is not run
    twice at once. The heartbeat then moves to the archive, where the next executor to take
    the task would no longer find it."""
    pid = h.house.kill_leftover_agent(it.task)
    if pid:
        report.killed.append({"task": it.task, "wizard": h.w.name, "pid": pid})


def _finish(it: _Item, o, qf: _QueueFile, houses, report: MonitorReport, *, by, out) -> None:
    name = it.wizard.name if it.wizard is not None else "-"
    h = houses.get(name)

    def planned() -> list[str]:
        """Where archive() will put the files (the event is written before the move)."""
        ra = it.result_attempt or it.attempt
        names = []
        if it.claim:
            names.append(("work", f"{it.task}.active", f"{it.task}.{it.attempt}.active"))
        if it.result:
            names += [("completed", f"{it.task}.txt", f"{it.task}.{ra}.txt"),
                      ("completed", f"{it.task}.json", f"{it.task}.{ra}.json")]
        return [f"{d}/archive/{dst}" for d, src, dst in names if os.path.lexists(os.path.join(it.wizard.house, d, src))]

    def archive() -> tuple:
        moved = []
        if it.kind == REAP:
            _kill_leftover(h, it, report)
        house = h.house
        if it.claim:  # the claim first: an executor runs a claim that has no result
            moved += house.archive_claim(it.task, it.attempt, sync=False)
            h.touched.update((house.work, house.work_archive))
        if it.result:
            moved += house.archive_result(it.task, it.result_attempt or it.attempt, sync=False)
            h.touched.update((house.completed, house.completed_archive))
        cut = len(house.root.rstrip(os.sep)) + 1
        return tuple(p[cut:] for p in moved)

    def record(kind, from_, to, detail, *, event=True, move=True):
        # The event before the move: a run stopped in between writes no second event (it
        # finds this one) and still archives.
        if event:
            append_event(it.events, it.task, from_, to, by=by, attempt=it.attempt or None, detail=detail,
                         event=kind, wizard=name, archived=planned() if move else [])
        moved = archive() if move else ()
        tr = Transition(name, it.task, kind, from_, to, it.attempt or None, detail, moved)
        report.transitions.append(tr)
        out(tr.line())

    target = it.target.value if it.target else None
    if it.kind == CANCELLED:
        task = qf.by_id().get(it.task)
        now = f"; the queue's {task.status.value} stays" if task is not None else ""
        record(CANCELLED, None, None, it.detail + now)
        return
    if it.kind == "folded":
        missing = not h.has_event(it.task, it.attempt, target)
        if missing:
            record(it.event_kind, "IN_PROGRESS", target, it.detail + " (recorded after a monitor restart)")
        else:
            record(ARCHIVED, None, target, f"already folded into the queue ({target}); result archived", event=False)
        return
    if o is None:
        return
    before = o.before.value if o.before else None
    if o.applied:
        if it.kind in (ORPHAN, RESTORED):
            record(it.kind, before, target, it.detail, move=False)
        elif o.before != o.after:
            record(it.event_kind, before, target, it.detail)
        elif not h.has_event(it.task, it.attempt, target):
            # The queue already says so: an earlier run wrote it and was stopped before its event.
            record(it.event_kind, "IN_PROGRESS", target, it.detail + " (recorded after a monitor restart)")
        else:
            record(ARCHIVED, before, target, f"already {target} in the queue; archived", event=False)
        return
    if it.kind in (ORPHAN, RESTORED):
        return  # it changed meanwhile: not an orphan any more
    if o.before is None:
        what = "result" if it.result else "claim"
        if o.in_file:  # there, but unreadable now (a duplicate ID, an error): it waits for the fix
            record(KEPT, None, None, f"the queue cannot show it now ({o.reason}); {what} kept until it can",
                   event=False, move=False)
        elif qf.mtime is not None and time.time() - qf.mtime < VANISH_GRACE_S:
            record(KEPT, None, None, f"it is not in the queue now, which changed {time.time() - qf.mtime:.0f} s ago; "
                   f"{what} kept in case it comes back", event=False, move=False)
        else:
            record(VANISHED, None, None, f"the task is no longer in the queue ({o.reason}); {what} archived")
        return
    if not it.claim and o.before in (Status.PENDING, Status.BLOCKED):
        return  # a re-run a person asked for: the dispatcher archives the old result
    record(LEFT, before, before, f"the queue says {before} (a person's change), not IN_PROGRESS: status left, "
           f"{'result' if it.result else 'claim'} archived ({it.detail})")
