"""The dispatcher (the seed's ``openclaw-work``): for each wizard, lock, gateway, repair, claim.

The steps, per wizard: take ``<house>/logs/dispatch.lock`` without waiting (an overlapping run
says "busy" and leaves that wizard alone); bring its gateway up if it has one; repair claims
whose task still says PENDING; archive the old result of a task set back to PENDING (a
re-run); claim the next ready tasks up to ``max_active`` live claims; mark them IN_PROGRESS
in one locked write per queue file. Each queue file is read and parsed once per run, however
many wizards share it. A wizard that a daily budget pauses (robe.fleet.spend) gets its repairs
but no claims, and the run says why and until when.

The claim is the truth (docs/contracts.md): it is made first, with O_EXCL semantics, and the
markdown follows. A crash between the two is repaired by the next run; nothing is claimed
twice.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from .broker import BrokerError, broker_for, publish_claims, publish_fleet
from .errors import RobeError
from .fleet import alerts
from .fleet.config import read_fleet_text
from .fleet.gateway import probe, start_gateway
from .fleet.spend import pauses
from .house import House, HouseError, new_claim, positive_int
from .plumbing import UnsafePath, fsync_dir, host, shown_path
from .queue import QUIET_S, Change, QueueError, Snapshot, Status, Task, priority_rank, set_statuses
from .queue.asks import ask_of, is_open
from .queue.cache import Snapshots
from .queue.events import append_event, events_path
from .queue.nearmiss import NEAR_MISS
from .routing import NOBODY, UNKNOWN, Router, is_ready, queue_key, ready_tasks

log = logging.getLogger(__name__)


class Claimed(NamedTuple):
    """A task a run claimed (or, in a dry run, would claim)."""

    wizard: str
    id: str
    priority: str
    attempt: int
    title: str
    queue: str
    line: int = 0
    rerun: bool = False

    def text(self, dry_run: bool = False) -> str:
        verb = "would dispatch" if dry_run else "dispatched"
        return f"{self.wizard}: {verb} {self.id} ({self.priority}) attempt {self.attempt} from {self.where}"

    @property
    def where(self) -> str:
        """``queue:line``, the queue shown relative to the current folder when it lies inside it."""
        return f"{shown_path(self.queue)}:{self.line}"

    def to_dict(self) -> dict:
        return self._asdict()


@dataclass
class WizardRun:
    """What one wizard's part of a run did. ``state``: "ok", "busy", "gateway-failed", "error" or
    "paused" (a daily budget is used up: ``pause`` says which and until when)."""

    name: str
    max_active: int = 1
    state: str = "ok"
    claims: list[Claimed] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    live: int = 0
    detail: str = ""
    pause: object = None  # robe.fleet.spend.Pause

    def to_dict(self) -> dict:
        return {"wizard": self.name, "state": self.state, "claims": [c.to_dict() for c in self.claims],
                "repaired": self.repaired, "withdrawn": self.withdrawn, "live_claims": self.live,
                "max_active": self.max_active, "detail": self.detail,
                "paused": self.pause.to_dict() if self.pause is not None else None}


@dataclass
class DispatchReport:
    """What a run did: per wizard, plus the tasks it could not route and the queue errors."""

    dry_run: bool = False
    wizards: list[WizardRun] = field(default_factory=list)
    #: PENDING tasks naming a wizard that does not exist: never claimed, reported every run
    skipped: list[dict] = field(default_factory=list)
    #: PENDING tasks no rule sends anywhere
    unrouted: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or any(w.state in ("gateway-failed", "error") for w in self.wizards) else 0

    @property
    def claims(self) -> list[Claimed]:
        return [c for w in self.wizards for c in w.claims]

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "wizards": [w.to_dict() for w in self.wizards], "skipped": self.skipped,
                "unrouted": self.unrouted, "errors": self.errors, "exit_code": self.exit_code}


def _quiet(_line: str) -> None:
    pass


@dataclass
class _QueueFile:
    """One queue file of the fleet: who reads it and, once read, its parse."""

    key: str
    path: str
    readers: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None
    by_id: dict = field(default_factory=dict)


class _Mark(NamedTuple):
    """A status change a wizard needs in a queue file: a repair, or a fresh claim to mark."""

    kind: str  # "repair" or "claim"
    wizard: object
    qf: _QueueFile
    task_id: str
    claim: Claimed | None = None
    record: dict | None = None


def ensure_gateway(wizard, *, dry_run: bool, err: Callable[[str], None], by: str = "dispatcher") -> bool:
    """True when the wizard has no gateway or its gateway is healthy (started if need be)."""
    if wizard.gateway is None:
        return True
    healthy, seen = probe(wizard.gateway.health)
    if healthy:
        return True
    if dry_run:
        err(f"{wizard.name}: gateway is down ({wizard.gateway.health}: {seen}); a real run would start it")
        return True
    events = House(wizard.house, wizard.name).events
    try:
        st = start_gateway(wizard)
    except (RobeError, OSError) as e:
        err(f"{wizard.name}: gateway is down and could not be started: {e}; nothing claimed for {wizard.name}")
        append_event(events, None, None, None, by=by, event="gateway", wizard=wizard.name, ok=False,
                     detail=f"gateway down ({seen}) and could not be started: {e}")
        return False
    err(f"{wizard.name}: gateway was down; started it (pid {st.pid}), {st.detail}")
    append_event(events, None, None, None, by=by, event="gateway", wizard=wizard.name, ok=True, pid=st.pid,
                 detail=f"gateway was down ({seen}); started it")
    return True


def dispatch(fleet, wizards=None, *, max_claims: int | None = None, dry_run: bool = False, gateway: bool = True,
             out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet,
             note: Callable[[str], None] | None = None, queues: Snapshots | None = None) -> DispatchReport:
    """One dispatch run for ``wizards`` (names; all of the fleet when None).

    ``out`` gets one line per claim, ``err`` the diagnostics, ``note`` (default: ``err``) the
    routine ones: busy, at capacity, nothing ready. ``queues``: the parsed queue files to
    reuse (robe run keeps one for its life; by default each file is parsed once per run).
    Returns what happened.
    """
    note = err if note is None else note
    queues = queues if queues is not None else Snapshots()
    report = DispatchReport(dry_run=dry_run)
    selected = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    if not selected:
        err(f"{fleet.path}: the fleet has no wizards; add one with 'robe wizard create NAME'")
        return report
    by = f"dispatcher:{host()}:{os.getpid()}"
    fds: list[int] = []
    try:
        active, runs = [], {}
        for w in selected:
            run = runs[w.name] = WizardRun(w.name, max_active=w.max_active)
            report.wizards.append(run)
            if not dry_run and not _lock(w, run, fds, err, note):
                continue
            # A wizard of another machine: its gateway is that machine's (robe gateway start there).
            if gateway and _on_this_machine(fleet, w) and not ensure_gateway(w, dry_run=dry_run, err=err, by=by):
                run.state, run.detail = "gateway-failed", "gateway down and could not be started"
                continue
            active.append(w)
        broker = _broker(fleet, active, runs, dry_run=dry_run, err=err)
        active = [w for w in active if runs[w.name].state != "error"]
        if active:
            files = _read_queues(fleet, active, queues, report, err, note)
            _dispatch_wizards(fleet, active, runs, files, report, by=by, max_claims=max_claims, dry_run=dry_run,
                              out=out, err=err, note=note, reader=queues, broker=broker)
        return report
    finally:
        for fd in fds:
            os.close(fd)
        if not dry_run:  # after the locks: a slow webhook never holds up the monitor
            alerts.notify(fleet, [alerts.paused(w.pause) for w in report.wizards if w.pause is not None])


def _on_this_machine(fleet, w) -> bool:
    return not getattr(fleet, "broker", None) or fleet.runs_here(w)


def _broker(fleet, active, runs, *, dry_run: bool, err):
    """The broker, when some of ``active`` get their claims through it (docs/contracts.md, "The
    broker"); reachable, with the hub's fleet.yaml published on it for 'robe init --join'. When it
    is down, those wizards get nothing this run ("error": the run exits 1) and nothing of theirs
    is marked IN_PROGRESS."""
    remote = [w for w in active if getattr(fleet, "broker", None) and fleet.via_broker(w)]
    if not remote or dry_run:
        return None
    try:
        b = broker_for(fleet)
        b.ping()
        publish_fleet(b, fleet, read_fleet_text(fleet.path))
        return b
    except (BrokerError, RobeError) as e:
        for w in remote:
            runs[w.name].state, runs[w.name].detail = "error", str(e)
        err(f"{e}; nothing claimed for {', '.join(w.name for w in remote)} (their work goes through the broker); "
            "start the broker or check fleet.yaml's broker:, then dispatch again")
        return None


def _publish(w, house: House, claims: list[tuple[str, int]], broker) -> None:
    """Publish the claims (task ID, attempt) in one round trip, each once (wizard/ID/attempt),
    with the last attempt a takeover may run it as (within max_attempts, RETRY results costing
    none)."""
    retried = None  # read from the archive only for a later attempt (it reads every archived result)
    items = []
    for tid, attempt in claims:
        record = house.claim_record(tid)
        if record is not None:
            if attempt > 1 and retried is None:
                retried = house.retried_attempts()
            failures_before = attempt - 1 - sum(1 for k in (retried or {}).get(tid, ()) if k < attempt)
            items.append((w.name, record, attempt + max(w.max_attempts - failures_before, 1) - 1))
    publish_claims(broker, items)


def _lock(w, run: WizardRun, fds: list[int], err, note) -> bool:
    house = House(w.house, w.name)
    try:
        fd = house.dispatch_lock()
    except OSError as e:
        run.state, run.detail = "error", f"cannot take {house.dispatch_lock_file}: {e.strerror or e}"
        err(f"{w.name}: {run.detail}; check the house's permissions")
        return False
    if fd is None:
        run.state, run.detail = "busy", f"another dispatch run holds {house.dispatch_lock_file}"
        note(f"{w.name}: busy (another dispatch run holds {house.dispatch_lock_file}); left alone")
        return False
    fds.append(fd)
    return True


def _read_queues(fleet, active, reader: Snapshots, report: DispatchReport, err, note, warn=None) -> list[_QueueFile]:
    """Each queue file of the fleet read once (those of ``active`` wizards' noted when missing);
    its near misses (``PENDNG``, ``P7``, ``Assignee: nobody``) go to ``warn`` (default ``err``)."""
    warn = err if warn is None else warn
    files: dict[str, _QueueFile] = {}
    for w in fleet.wizards:
        key = queue_key(w.queue)
        files.setdefault(key, _QueueFile(key, w.queue)).readers.append(w.name)
    names = {w.name for w in active}
    out = []
    for qf in files.values():
        mine = [n for n in qf.readers if n in names]
        if not os.path.exists(qf.path):
            if mine:
                note(f"{', '.join(mine)}: no queue at {qf.path}; nothing to dispatch from it")
            continue
        try:
            q = reader.read(qf.path, fleet.default_priority)
        except QueueError as e:
            report.errors.append(str(e))
            err(str(e))
            continue
        if q.errors:
            n = len({p.line for p in q.errors})
            err(f"{qf.path}: {n} place{'s' if n != 1 else ''} with errors left out; "
                f"run 'robe queue validate -f {qf.path}'")
        for p in q.problems:
            if p.code == NEAR_MISS:
                warn(str(p))
        qf.snapshot, qf.by_id = q, q.by_id()
        out.append(qf)
    return out


def _held_claims(fleet) -> tuple[dict, dict]:
    """Claims in every house: {(queue key, ID): wizard} and, per wizard, {ID: claim record}."""
    held: dict[tuple[str, str], str] = {}
    records: dict[str, dict[str, dict | None]] = {}
    keys: dict[str, str] = {}  # (the claims of a house name the same few queue files)
    for w in fleet.wizards:
        house = House(w.house, w.name)
        recs = records[w.name] = {}
        for tid in house.claim_ids():
            rec = recs[tid] = house.claim_record(tid)
            # A hand-made or unreadable trigger (the seed's `touch`) belongs to the house's own queue.
            qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else w.queue
            key = keys.get(qpath) or keys.setdefault(qpath, queue_key(qpath))
            held[(key, tid)] = w.name
    return held, records


def _candidates(fleet, queues, names, report: DispatchReport, *, by, dry_run, err) -> dict[str, list]:
    """Per wizard, the PENDING tasks routed to it, as (task, queue file); unroutable ones reported."""
    per_wizard: dict[str, list[tuple[Task, _QueueFile]]] = {n: [] for n in names}
    for qf in queues:
        router = Router(fleet, qf.path, qf.readers)
        for t in qf.snapshot.tasks:
            if t.status is not Status.PENDING:
                continue
            r = router.route(t)
            if r.wizard in names:
                per_wizard[r.wizard].append((t, qf))
            elif r.how == UNKNOWN:
                report.skipped.append({"id": t.id, "assignee": t.assignee, "queue": qf.path, "line": t.line})
                err(f"{qf.path}:{t.line}: {t.id} is assigned to '{t.assignee}', which is not a wizard of this fleet; "
                    f"skipped (fix its Assignee, or add a route for it)")
                if not dry_run:
                    append_event(events_path(qf.path), t.id, t.status.value, t.status.value, by=by, event="skipped",
                                 detail=f"assigned to unknown wizard '{t.assignee}'", assignee=t.assignee)
            elif r.how == NOBODY:
                report.unrouted.append({"id": t.id, "queue": qf.path, "line": t.line})
    if report.unrouted:
        ids = ", ".join(u["id"] for u in report.unrouted[:5]) + (", ..." if len(report.unrouted) > 5 else "")
        err(f"{len(report.unrouted)} PENDING task{'s' if len(report.unrouted) != 1 else ''} route to no wizard "
            f"({ids}); give them an Assignee, or add a route or default_wizard to {fleet.path}")
    # By priority, then queue file, then position in it (the order they were found in: the
    # sort is stable).
    return {n: sorted(c, key=lambda tq: priority_rank(tq[0].priority)) for n, c in per_wizard.items()}


def _dispatch_wizards(fleet, active, runs, queues: list[_QueueFile], report: DispatchReport, *, by, max_claims,
                      dry_run, out, err, note, reader: Snapshots, broker=None) -> None:
    names = {w.name for w in active}
    candidates = _candidates(fleet, queues, names, report, by=by, dry_run=dry_run, err=err)
    held, records = _held_claims(fleet)
    by_key = {qf.key: qf for qf in queues}
    asking = _asking(queues)
    paused = pauses(fleet, [w.name for w in active])
    marks: dict[str, list[_Mark]] = {}
    for w in active:
        run = runs[w.name]
        try:
            for m in _one_wizard(w, run, candidates[w.name], records[w.name], held, by_key, by=by,
                                 max_claims=max_claims, dry_run=dry_run, out=out, err=err, note=note,
                                 asking=asking, pause=paused.get(w.name),
                                 broker=broker if broker is not None and fleet.via_broker(w) else None):
                marks.setdefault(m.qf.key, []).append(m)
        except (QueueError, HouseError, OSError, UnsafePath, BrokerError) as e:
            run.state, run.detail = "error", _sentence(e)
            err(f"{w.name}: {run.detail}")
            log.debug("wizard %s: dispatch failed", w.name, exc_info=True)
    # One locked write per queue file for every wizard's repairs and claims.
    for key, items in marks.items():
        _mark(fleet, by_key[key], items, runs, by=by, out=out, err=err, quiet=reader.quiet_for(by_key[key].path),
              written=reader.wrote)


def _asking(queues: list[_QueueFile]) -> set[tuple[str, str]]:
    """(wizard, task ID) of every task that asked a question still unanswered in some queue."""
    out = set()
    for qf in queues:
        for t in qf.snapshot.tasks:
            if not t.fields or not is_open(t):
                continue
            a = ask_of(t)
            if a is not None and a.task:
                out.add((a.asked_by, a.task))
    return out


def _one_wizard(w, run: WizardRun, candidates, records, held, by_key, *, by, max_claims, dry_run,
                out, err, note, asking: set = frozenset(), pause=None, broker=None) -> list[_Mark]:
    """Decide the wizard's repairs and claims, and make the claim files; the markdown comes after.
    With ``broker`` (the wizard runs on another machine), each claim is published on it, and
    a claim a crash left unpublished is published now (once: the key is wizard/ID/attempt)."""
    house = House(w.house, w.name)
    house.check()  # a work/ or an archive that leads outside the house: nothing is claimed for it
    todo: list[_Mark] = []
    if not dry_run:
        house.sweep_claim_temps()
    if broker is not None:
        _publish(w, house, [(tid, positive_int((rec or {}).get("attempt"), 1)) for tid, rec in records.items()
                            if not house.has_result(tid)], broker)
    # Repair: a claim whose task says PENDING because a dispatch was cut short between claim
    # and mark. (Once marked, PENDING is a person's cancel: the executor stops the agent.)
    for tid, rec in records.items():
        qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else w.queue
        qf = by_key.get(queue_key(qpath))
        task = qf.by_id.get(tid) if qf else None
        if task is not None and task.status is Status.PENDING and not (rec or {}).get("marked_at"):
            if dry_run:
                run.repaired.append(tid)
                err(f"{w.name}: would repair {tid}: it has a claim but the queue says PENDING")
            else:
                todo.append(_Mark("repair", w, qf, tid, record=rec))
    if pause is not None:  # a daily budget is used up: repairs, but no new claims
        run.state, run.detail, run.pause = "paused", pause.reason, pause
        note(f"{w.name}: {pause.reason}")
        return todo

    # Capacity: live claims that have no result yet.
    alive = house.executor().alive
    # (through the broker, a claim is live until the monitor takes its result or takeover in)
    live = [tid for tid in records if not house.has_result(tid)
            and (broker is not None or house.claim_live(tid, w.lease, alive))]
    run.live = len(live)
    room = w.max_active - run.live if max_claims is None else min(w.max_active - run.live, max_claims)
    # An ask never waits for a slot its asker holds: a claim that waits on an ask lends its
    # slot to asks (A's task asks B while B's task asks A: both questions still run).
    lent = sum(1 for tid in live if (w.name, tid) in asking)
    ask_room = room + lent if max_claims is None else min(w.max_active - run.live + lent, max_claims)
    floor = priority_rank(w.dispatch_floor)
    ready = ((t, qf) for t, qf in candidates if (qf.key, t.id) not in held and is_ready(t, qf.by_id, floor))
    if room <= 0:
        ready = list(ready)
        asks = [(t, qf) for t, qf in ready if ask_of(t) is not None] if ask_room > 0 else []
        if not asks:
            if ready:
                note(f"{w.name}: at capacity ({run.live} live claim{'s' if run.live != 1 else ''}, max_active "
                     f"{w.max_active}); {len(ready)} ready task{'s' if len(ready) != 1 else ''} wait")
            else:
                note(f"{w.name}: nothing ready to dispatch")
            return todo
        note(f"{w.name}: at capacity, but {lent} of its claims wait on answers: questions to it still run")
        ready = asks
    attempts = house.archived_attempts()
    found = False
    for t, qf in ready:
        if room <= 0 and ask_of(t) is None:
            continue  # the slots lent by waiting claims are for asks only
        found = True
        attempt = attempts.get(t.id, 0) + 1
        c = Claimed(w.name, t.id, t.priority, attempt, t.title, qf.path, t.line, house.has_result(t.id))
        if dry_run:
            run.claims.append(c)
            out(c.text(dry_run=True))
            room, ask_room = room - 1, ask_room - 1
            if ask_room <= 0:
                break
            continue
        try:
            # (through a broker the claim is published at once: made durable first)
            record = _claim(w, house, t, qf, c, attempts, by=by, err=err, sync_folder=broker is not None)
        except (HouseError, OSError, UnsafePath) as e:  # a problem with one task's files: that task waits
            if isinstance(e, OSError) and e.errno in _WHOLE_DISK:
                raise  # not this task's: the whole wizard stops, with one sentence
            err(f"{w.name}: {t.id}: {_sentence(e)}; skipped, the other tasks go on")
            continue
        if record is None:
            continue
        if broker is not None:
            try:
                _publish(w, house, [(t.id, c.attempt)], broker)
            except BrokerError as e:  # not published: not claimed, and never marked IN_PROGRESS
                house.remove_claim(t.id)
                append_event(house.events, t.id, "PENDING", "PENDING", by=by, attempt=c.attempt, event="withdrawn",
                             wizard=w.name, detail=f"the broker could not take the claim: {e}")
                run.state, run.detail = "error", str(e)
                err(f"{w.name}: {e}; {t.id} is not claimed and stays PENDING")
                return todo
        held[(qf.key, t.id)] = w.name
        todo.append(_Mark("claim", w, qf, t.id, claim=c, record=record))
        room, ask_room = room - 1, ask_room - 1
        if ask_room <= 0:
            break
    if not found:
        note(f"{w.name}: nothing ready to dispatch")
    if any(m.kind == "claim" for m in todo):
        fsync_dir(house.work)  # every claim of the run on disk before the queue says IN_PROGRESS
    return todo


def _claim(w, house: House, t: Task, qf: _QueueFile, c: Claimed, attempts: dict, *, by, err,
           sync_folder: bool = False) -> dict | None:
    """Make the claim on ``t`` (archiving the result of a re-run first) and log it at once: the
    event is written even if this run is killed before it marks the task IN_PROGRESS. The
    claim's record, or None when it could not be made. (The folder is fsynced once for all the
    claims of the run, before the queue says IN_PROGRESS: ``_one_wizard``.)"""
    if c.rerun:
        moved = house.archive_result(t.id, house.result_attempt(t.id, max(attempts.get(t.id, 0), 1)))
        append_event(house.events, t.id, "PENDING", "PENDING", by=by, attempt=c.attempt - 1 or None, event="rerun",
                     wizard=w.name, detail="set back to PENDING after a result: earlier result archived",
                     archived=[os.path.relpath(p, house.root) for p in moved])
    record = new_claim(t, wizard=w.name, attempt=c.attempt, lease_s=w.lease, queue=qf.path)
    if not house.create_claim(record, sync_folder=sync_folder):
        err(f"{w.name}: cannot claim {t.id} from {qf.path}: work/{t.id}.active already exists "
            "(a claim on a task of the same ID from another queue); it waits")
        return None
    append_event(house.events, c.id, "PENDING", "IN_PROGRESS", by=by, attempt=c.attempt, event="dispatch",
                 wizard=w.name, detail=f"claimed by {w.name}" + (" (re-run)" if c.rerun else ""), priority=c.priority)
    return record


#: errors of the file system itself, not of one task's files
_WHOLE_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def _sentence(e: Exception) -> str:
    """An error as one sentence (the disk full, a file that leads outside the house...)."""
    if isinstance(e, OSError):
        why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        return f"{why}{': ' + str(e.filename) if e.filename else ''}"
    return str(e)


def _other_claimant(fleet, wizard, qf: _QueueFile, task_id: str) -> str | None:
    """Another wizard whose house holds a claim on this task of this queue file, if any."""
    for other in fleet.wizards:
        if other.name == wizard.name:
            continue
        house = House(other.house, other.name)
        if not os.path.lexists(house.claim_path(task_id)):
            continue
        rec = house.claim_record(task_id)
        qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else other.queue
        if queue_key(qpath) == qf.key:
            return other.name
    return None


def _mark(fleet, qf: _QueueFile, items: list[_Mark], runs, *, by, out, err, quiet: float = QUIET_S,
          written=None) -> None:
    """Mark claims IN_PROGRESS and repair stale PENDINGs in one write; then report each."""
    changes = [Change(i.task_id, Status.IN_PROGRESS, (Status.PENDING,)) for i in items]
    try:
        outcomes = set_statuses(qf.path, changes, known=qf.snapshot, quiet=quiet, written=written,
                                parse_kwargs={"default_priority": fleet.default_priority})
    except QueueError as e:
        # The claims stand (they are the truth); the next run repairs the markdown.
        for name in dict.fromkeys(i.wizard.name for i in items):
            runs[name].state, runs[name].detail = "error", str(e)
            ids = ", ".join(i.task_id for i in items if i.wizard.name == name)
            err(f"{name}: could not mark {ids} IN_PROGRESS in {qf.path}: {e}; the next run repairs the queue")
        return
    houses = {}
    for item, o in zip(items, outcomes):
        w = item.wizard
        run = runs[w.name]
        house = houses.get(w.name) or houses.setdefault(w.name, House(w.house, w.name))
        events = house.events
        if o.applied:
            _note_mark(house, item.task_id, err, item.record)
        if item.kind == "repair":
            if o.applied:
                run.repaired.append(item.task_id)
                err(f"{w.name}: repaired {item.task_id}: its claim exists but the queue said PENDING; "
                    "set back to IN_PROGRESS")
                append_event(events, item.task_id, "PENDING", "IN_PROGRESS", by=by,
                             attempt=(item.record or {}).get("attempt"), event="repair", wizard=w.name,
                             detail="claim exists but the queue said PENDING (a crash between claim and mark, or an "
                                    "editor saved a stale copy); not claimed again")
            continue
        c = item.claim
        if o.applied or (o.before is Status.IN_PROGRESS and _other_claimant(fleet, w, qf, c.id) is None):
            # Already IN_PROGRESS with no other claim (a repair beat us to it): the claim is ours.
            # With another claim (routing changed between two runs' reads), the one who marked it keeps it.
            if not o.applied:
                _note_mark(house, c.id, err, item.record)
            run.claims.append(c)
            out(c.text())  # (its event was written with the claim)
            continue
        house.remove_claim(c.id)
        run.withdrawn.append(c.id)
        err(f"{w.name}: withdrew the claim on {c.id}: {o.reason}")
        before = o.before.value if o.before else None
        append_event(events, c.id, before, before, by=by, attempt=c.attempt, event="withdrawn", wizard=w.name,
                     detail=f"the task changed in the queue while it was claimed: {o.reason}")


def _note_mark(house: House, task_id: str, err, record: dict | None = None) -> None:
    """The claim learns that the queue says IN_PROGRESS (house.mark_claim); a failure costs
    only that a person's PENDING is repaired instead of cancelling the task."""
    try:
        house.mark_claim(task_id, record)
    except (OSError, UnsafePath) as e:
        err(f"{house.wizard}: {task_id}: could not note the mark in its claim: {_sentence(e)}")


def claimed_ids(fleet, queue_path: str | None = None) -> set[str]:
    """IDs with a claim in any wizard's house; with ``queue_path``, only claims on tasks of that
    queue file (a claim names its queue; a hand-made trigger belongs to its house's own queue)."""
    key = queue_key(queue_path) if queue_path else None
    held, _ = _held_claims(fleet)
    return {tid for (qkey, tid) in held if key is None or qkey == key}


def ready_for(fleet, queue: Snapshot, wizard_name: str) -> list[Task]:
    """What a dispatch run would take for ``wizard_name`` from ``queue``, in order, capacity
    aside: the ready tasks routed to it that no house holds a claim on."""
    return ready_tasks(fleet, queue, wizard_name, claimed_ids(fleet, queue.path))


class Routed(NamedTuple):
    """A task of one of the fleet's queue files and the wizard it routes to (None: nobody)."""

    task: Task
    queue: str
    wizard: str | None

    def to_dict(self) -> dict:
        return {**self.task.to_dict(), "queue": self.queue, "wizard": self.wizard}


def ready_across(fleet, wizard_name: str) -> list[Routed]:
    """What ``robe dispatch --wizard W --dry-run`` would take for W from every queue of the
    fleet, in the order it would take it, capacity aside (the dry run stops at max_active):
    the dispatcher's own reading, routing and order, and no task any house holds a claim on."""
    w = fleet.wizard(wizard_name)
    report = DispatchReport(dry_run=True)
    queues = _read_queues(fleet, [w], Snapshots(), report, _quiet, _quiet)
    candidates = _candidates(fleet, queues, {w.name}, report, by="", dry_run=True, err=_quiet)[w.name]
    held, _ = _held_claims(fleet)
    floor = priority_rank(w.dispatch_floor)
    return [Routed(t, qf.path, w.name) for t, qf in candidates
            if (qf.key, t.id) not in held and is_ready(t, qf.by_id, floor)]


def fleet_tasks(fleet, wizard_name: str | None = None, *, err: Callable[[str], None] = _quiet) -> list[Routed]:
    """Every task of every queue file of the fleet (each file once, in fleet.yaml's order),
    with the wizard it routes to; with ``wizard_name``, only the tasks that route to it.
    ``err`` hears of a queue file missing or with tasks left out."""
    if wizard_name is not None:
        fleet.wizard(wizard_name)  # an unknown name is an error that names the wizards there are
    out: list[Routed] = []
    for qf in _read_queues(fleet, list(fleet.wizards), Snapshots(), DispatchReport(dry_run=True), err, err,
                          _quiet):
        router = Router(fleet, qf.path, qf.readers)
        for t in qf.snapshot.tasks:
            who = router.route(t).wizard
            if wizard_name is None or who == wizard_name:
                out.append(Routed(t, qf.path, who))
    return out
