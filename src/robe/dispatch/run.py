"""One dispatch run (``openclaw-work``): for each wizard, lock, gateway, repair, claim.

The steps, per wizard: take ``<house>/logs/dispatch.lock`` without waiting (an overlapping
run says "busy" and leaves that wizard alone); bring its gateway up if it has one; repair
claims whose task still says PENDING; archive the old result of a task set back to PENDING
(a re-run); claim the next ready tasks up to ``max_active`` live claims; mark them
IN_PROGRESS in one locked write per queue file. Each queue file is read and parsed once per
run, however many wizards share it.

The claim is the truth (docs/contracts.md): it is made first, with O_EXCL semantics, and the
markdown follows. A crash between the two is repaired by the next run; nothing is claimed
twice.
"""

from __future__ import annotations

import fcntl
import os
from typing import Callable

from ..queue import Change, QueueError, Status, Task, cache, priority_rank, read_text, set_statuses
from ..fleet.liveness import executor_liveness
from ..queue.events import append_event, events_path, stamp
from ..records import record
from . import claims as cl
from .routing import NOBODY, UNKNOWN, Router, is_ready, queue_key

# Records are NamedTuples and plain classes, not dataclasses: defining five dataclasses cost
# ~3 ms of every openclaw-work start-up, and `logging` another ~4 ms (imported only on error).


class Claimed(record("Claimed", "wizard id priority attempt title queue rerun", defaults=(False,))):
    __slots__ = ()
    # Fields:
    #   wizard: str
    #   id: str
    #   priority: str
    #   attempt: int
    #   title: str
    #   queue: str
    #   rerun: bool = False

    def line(self, dry_run: bool = False) -> str:
        verb = "would dispatch" if dry_run else "dispatched"
        return f"{self.wizard}: {verb} {self.id} ({self.priority}) attempt {self.attempt}"

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "id": self.id, "priority": self.priority, "attempt": self.attempt,
                "title": self.title, "queue": self.queue, "rerun": self.rerun}


class WizardRun:
    """What one wizard's part of a run did. ``state``: "ok", "busy", "gateway-failed" or "error"."""

    def __init__(self, name: str, max_active: int = 1):
        self.name = name
        self.state = "ok"
        self.claims: list[Claimed] = []
        self.repaired: list[str] = []
        self.withdrawn: list[str] = []
        self.live = 0
        self.max_active = max_active
        self.detail = ""

    def to_dict(self) -> dict:
        return {"wizard": self.name, "state": self.state, "claims": [c.to_dict() for c in self.claims],
                "repaired": self.repaired, "withdrawn": self.withdrawn, "live_claims": self.live,
                "max_active": self.max_active, "detail": self.detail}


class RunReport:
    """What a run did: per wizard, plus the tasks it could not route and the queue errors."""

    def __init__(self, dry_run: bool = False):
        self.dry_run = dry_run
        self.wizards: list[WizardRun] = []
        #: PENDING tasks naming a wizard that does not exist: never claimed, reported every run
        self.skipped: list[dict] = []
        #: PENDING tasks no rule sends anywhere
        self.unrouted: list[dict] = []
        self.errors: list[str] = []

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or any(w.state in ("gateway-failed", "error") for w in self.wizards) else 0

    @property
    def claims(self) -> list:
        return [c for w in self.wizards for c in w.claims]

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "wizards": [w.to_dict() for w in self.wizards],
                "skipped": self.skipped, "unrouted": self.unrouted, "errors": self.errors,
                "exit_code": self.exit_code}


def _quiet(_line: str) -> None:
    pass


# --- locks and gateways --------------------------------------------------------------------


def lock_path(wizard) -> str:
    return os.path.join(wizard.house, "logs", "dispatch.lock")


def try_lock(wizard) -> int | None:
    """An fd holding the wizard's dispatch lock, or None when another run holds it."""
    path = lock_path(wizard)
    cl.make_private_dir(os.path.dirname(path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def ensure_gateway(wizard, *, dry_run: bool, err: Callable[[str], None], by: str = "dispatcher") -> bool:
    """True when the wizard has no gateway or its gateway is healthy (started if need be)."""
    if wizard.gateway is None:
        return True
    from ..fleet.gateway import probe

    healthy, seen = probe(wizard.gateway.health)
    if healthy:
        return True
    if dry_run:
        err(f"{wizard.name}: gateway is down ({wizard.gateway.health}: {seen}); a real run would start it")
        return True
    from ..errors import RobeError
    from ..fleet.gateway import start_gateway

    events = os.path.join(wizard.house, "logs", "events.jsonl")
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


# --- the run -------------------------------------------------------------------------------


class _QueueFile:
    """One queue file of the fleet: who reads it and, once read, its parse."""

    def __init__(self, key: str, path: str, index: int):
        self.key, self.path, self.index = key, path, index
        self.readers: list[str] = []
        self.queue = None
        self.by_id: dict = {}
        self.parsed = False  # parsed afresh this run (robe.queue.cache had no parse of this text)
        self.written = False


def _relevant(qf: _QueueFile, names: set, targets: set, text: str) -> bool:
    """Could a task of this file route to one of ``names``?"""
    if names & set(qf.readers) or names & targets:
        return True
    low = text.lower()
    return any(n in low for n in names)  # only an Assignee can name them: cheap test first


def dispatch(fleet, wizards=None, *, max_claims: int | None = None, dry_run: bool = False, gateway: bool = True,
             out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet,
             note: Callable[[str], None] | None = None) -> RunReport:
    """Run the dispatcher for ``wizards`` (names; all of the fleet when None).

    ``out`` gets one line per claim, ``err`` the diagnostics, ``note`` (default: ``err``) the
    routine ones: busy, at capacity, nothing ready. Returns what happened.
    """
    note = err if note is None else note
    report = RunReport(dry_run=dry_run)
    selected = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    if not selected:
        err(f"{fleet.path}: the fleet has no wizards; add one with 'robe wizard create NAME'")
        return report
    by = f"dispatcher:{cl.host()}:{os.getpid()}"
    fds: list[int] = []
    try:
        active = []
        runs: dict[str, WizardRun] = {}
        for w in selected:
            run = WizardRun(w.name, max_active=w.max_active)
            report.wizards.append(run)
            runs[w.name] = run
            if not dry_run:
                try:
                    fd = try_lock(w)
                except OSError as e:
                    run.state = "error"
                    run.detail = f"cannot take {lock_path(w)}: {e.strerror or e}"
                    err(f"{w.name}: cannot take {lock_path(w)}: {e.strerror or e}; check the house's permissions")
                    continue
                if fd is None:
                    run.state = "busy"
                    run.detail = f"another dispatch run holds {lock_path(w)}"
                    note(f"{w.name}: busy (another dispatch run holds {lock_path(w)}); left alone")
                    continue
                fds.append(fd)
            if gateway and not ensure_gateway(w, dry_run=dry_run, err=err, by=by):
                run.state = "gateway-failed"
                run.detail = "gateway down and could not be started"
                continue
            active.append(w)
        if not active:
            return report
        queues = _read_queues(fleet, active, report, err, note)
        _dispatch_wizards(fleet, active, runs, queues, report, by=by, max_claims=max_claims, dry_run=dry_run,
                          out=out, err=err, note=note)
        for qf in queues:
            if qf.parsed and not qf.written and not dry_run:
                cache.put(qf.queue)  # nothing written: the next run can start from this parse
        return report
    finally:
        for fd in fds:
            os.close(fd)


def _read_queues(fleet, active, report: RunReport, err, note) -> list[_QueueFile]:
    files: dict[str, _QueueFile] = {}
    for w in fleet.wizards:
        key = queue_key(w.queue)
        if key not in files:
            files[key] = _QueueFile(key, w.queue, len(files))
        files[key].readers.append(w.name)
    names = {w.name for w in active}
    targets = {r.wizard for r in fleet.routes} | ({fleet.default_wizard} if fleet.default_wizard else set())
    out = []
    for qf in files.values():
        mine = [n for n in qf.readers if n in names]
        if not os.path.exists(qf.path):
            if mine:
                note(f"{', '.join(mine)}: no queue at {qf.path}; nothing to dispatch from it")
            continue
        try:
            text = read_text(qf.path)
        except QueueError as e:
            report.errors.append(str(e))
            err(str(e))
            continue
        if not _relevant(qf, names, targets, text):
            continue
        # The parse kept by robe's last write; after a person's edit, that parse re-read where
        # the texts differ; else (the first run, or an edit re-reading cannot follow) a parse.
        q, qf.parsed = cache.recall(qf.path, text, fleet.default_priority)
        if q is None:
            from ..queue.scan import parse

            q = parse(text, qf.path, default_priority=fleet.default_priority)
            qf.parsed = True
        if q.errors:
            n = len({p.line for p in q.errors})
            err(f"{qf.path}: {n} place{'s' if n != 1 else ''} with errors left out; "
                f"run 'robe queue validate -f {qf.path}'")
        qf.queue = q
        qf.by_id = {t.id: t for t in q.tasks}
        out.append(qf)
    return out


def _held_claims(fleet, listings: dict[str, list[str]]) -> tuple[dict, dict]:
    """Claims in every house: {(queue key, ID): wizard} and, per wizard, {ID: claim record}."""
    held: dict[tuple[str, str], str] = {}
    records: dict[str, dict[str, dict | None]] = {}
    for w in fleet.wizards:
        work = os.path.join(w.house, "work")
        recs = {}
        for n in listings[w.name]:
            if not n.endswith(".active"):
                continue
            tid = n[:-7]
            if not cl.is_valid_id(tid):
                continue
            rec = cl.read_claim(work, tid)
            recs[tid] = rec
            # A hand-made or unreadable trigger (the seed's `touch`) belongs to the house's own queue.
            qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else w.queue
            held[(queue_key(qpath), tid)] = w.name
        records[w.name] = recs
    return held, records


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _dispatch_wizards(fleet, active, runs, queues: list[_QueueFile], report: RunReport, *, by, max_claims,
                      dry_run, out, err, note) -> None:
    names = {w.name for w in active}
    # Per wizard, one list per priority, each in (queue file, position) order: no sort needed.
    per_wizard: dict[str, list[list[tuple[Task, _QueueFile]]]] = {n: [[], [], [], []] for n in names}
    rank = {p: priority_rank(p) for p in ("P0", "P1", "P2", "P3")}
    pending_status = Status.PENDING
    for qf in queues:
        route = Router(fleet, qf.path).route
        for t in qf.queue.tasks:
            if t.status is not pending_status:
                continue
            r = route(t)
            if r.wizard in names:
                per_wizard[r.wizard][rank[t.priority]].append((t, qf))
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

    listings = {w.name: _listdir(os.path.join(w.house, "work")) for w in fleet.wizards}
    held, records = _held_claims(fleet, listings)
    by_key = {qf.key: qf for qf in queues}

    pending: dict[str, list[_Pending]] = {}
    for w in active:
        run = runs[w.name]
        try:
            for item in _one_wizard(w, run, per_wizard[w.name], listings[w.name], records[w.name], held, by_key,
                                    by=by, max_claims=max_claims, dry_run=dry_run, out=out, err=err, note=note):
                pending.setdefault(item.qf.key, []).append(item)
        except (QueueError, OSError, cl.UnsafePath) as e:
            run.state = "error"
            run.detail = str(e)
            err(f"{w.name}: {e}")
            import logging

            logging.getLogger(__name__).exception("wizard %s: dispatch failed", w.name)
    # One locked write per queue file for every wizard's repairs and claims.
    for key, items in pending.items():
        _mark(fleet, by_key[key], items, runs, by=by, out=out, err=err)


class _Pending(record("_Pending", "kind wizard qf task_id claim record", defaults=(None, None))):
    """A status change a wizard needs in a queue file: a repair, or a fresh claim to mark."""

    __slots__ = ()
    # Fields:
    #   kind: str  # "repair" or "claim"
    #   wizard: object
    #   qf: _QueueFile
    #   task_id: str
    #   claim: Claimed | None = None
    #   record: dict | None = None


def _one_wizard(w, run: WizardRun, candidates, work_names, records, held, by_key, *, by, max_claims, dry_run,
                out, err, note) -> list[_Pending]:
    """Decide the wizard's repairs and claims, and make the claim files; the markdown comes after."""
    work, completed, logs = (os.path.join(w.house, d) for d in ("work", "completed", "logs"))
    events = os.path.join(logs, "events.jsonl")
    todo: list[_Pending] = []
    if not dry_run:
        cl.sweep_temps(work, work_names)

    # Repair: a claim whose task says PENDING (crash between claim and mark, or a stale editor).
    for tid, rec in records.items():
        qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else w.queue
        qf = by_key.get(queue_key(qpath))
        task = qf.by_id.get(tid) if qf else None
        if task is not None and task.status is Status.PENDING:
            if dry_run:
                run.repaired.append(tid)
                err(f"{w.name}: would repair {tid}: it has a claim but the queue says PENDING")
            else:
                todo.append(_Pending("repair", w, qf, tid, record=rec))

    # Capacity: live claims that have no result yet.
    completed_names = set(_listdir(completed))
    states = cl.claim_states(work, work_names, completed_names, w.lease, executor_liveness(w).alive)
    run.live = sum(1 for s in states if s.live and not s.finished)
    room = w.max_active - run.live
    if max_claims is not None:
        room = min(room, max_claims)

    floor = priority_rank(w.dispatch_floor)

    def ready():
        for bucket in candidates[:floor + 1]:
            for t, qf in bucket:
                if (qf.key, t.id) not in held and is_ready(t, qf.by_id, floor):
                    yield t, qf

    if room <= 0:
        waiting = sum(1 for _ in ready())
        if waiting:
            note(f"{w.name}: at capacity ({run.live} live claim{'s' if run.live != 1 else ''}, max_active "
                f"{w.max_active}); {waiting} ready task{'s' if waiting != 1 else ''} wait")
        else:
            note(f"{w.name}: nothing ready to dispatch")
        return todo

    attempts = None
    for t, qf in ready():
        if room <= 0:
            break
        if attempts is None:
            attempts = cl.archived_attempts(work)
            if not dry_run:
                cl.make_private_dir(work)
        attempt = attempts.get(t.id, 0) + 1
        rerun = f"{t.id}.txt" in completed_names or f"{t.id}.json" in completed_names
        c = Claimed(w.name, t.id, t.priority, attempt, t.title, qf.path, rerun)
        if dry_run:
            run.claims.append(c)
            out(c.line(dry_run=True))
            room -= 1
            continue
        if rerun:
            moved = cl.archive_result(completed, t.id, max(attempts.get(t.id, 0), 1))
            append_event(events, t.id, "PENDING", "PENDING", by=by, attempt=attempt - 1 or None, event="rerun",
                         wizard=w.name, detail="set back to PENDING after a result: earlier result archived",
                         archived=[os.path.relpath(p, w.house) for p in moved])
        record = cl.claim_record(t, wizard=w, attempt=attempt, queue_path=qf.path, claimed_at=stamp())
        if not cl.create_claim(work, record):
            err(f"{w.name}: cannot claim {t.id} from {qf.path}: work/{t.id}.active already exists "
                "(a claim on a task of the same ID from another queue); it waits")
            continue
        held[(qf.key, t.id)] = w.name
        todo.append(_Pending("claim", w, qf, t.id, claim=c))
        room -= 1
    if attempts is None:
        note(f"{w.name}: nothing ready to dispatch")
    return todo


def _write_statuses(qf: _QueueFile, changes: list[Change]):
    """Apply ``changes`` in one locked write through robe.queue's one writer, which reuses
    this run's parse when the file's bytes are still the ones parsed (so a 10,000-task file
    is not parsed a second time) and parses afresh on any difference."""
    return set_statuses(qf.path, changes, known=qf.queue)


def _other_claimant(fleet, wizard, qf: _QueueFile, task_id: str) -> str | None:
    """Another wizard whose house holds a claim on this task of this queue file, if any."""
    for other in fleet.wizards:
        if other.name == wizard.name:
            continue
        work = os.path.join(other.house, "work")
        if not os.path.lexists(os.path.join(work, f"{task_id}.active")):
            continue
        rec = cl.read_claim(work, task_id)
        qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else other.queue
        if queue_key(qpath) == qf.key:
            return other.name
    return None


def _mark(fleet, qf: _QueueFile, items: list[_Pending], runs, *, by, out, err) -> None:
    """Mark claims IN_PROGRESS and repair stale PENDINGs in one write; then report each."""
    changes = [Change(i.task_id, Status.IN_PROGRESS, (Status.PENDING,)) for i in items]
    try:
        outcomes = _write_statuses(qf, changes)
        # A write keeps the parse of what it wrote (robe.queue.set_statuses) when it can.
        qf.written = any(o.applied and o.before is not o.after for o in outcomes)
    except QueueError as e:
        # The claims stand (they are the truth); the next run repairs the markdown.
        for name in dict.fromkeys(i.wizard.name for i in items):
            runs[name].state = "error"
            runs[name].detail = str(e)
            ids = ", ".join(i.task_id for i in items if i.wizard.name == name)
            err(f"{name}: could not mark {ids} IN_PROGRESS in {qf.path}: {e}; the next run repairs the queue")
        return
    for item, o in zip(items, outcomes):
        w = item.wizard
        run = runs[w.name]
        events = os.path.join(w.house, "logs", "events.jsonl")
        if item.kind == "repair":
            if not o.applied:
                continue
            run.repaired.append(item.task_id)
            attempt = item.record.get("attempt") if item.record else None
            err(f"{w.name}: repaired {item.task_id}: its claim exists but the queue said PENDING; "
                "set back to IN_PROGRESS")
            append_event(events, item.task_id, "PENDING", "IN_PROGRESS", by=by, attempt=attempt, event="repair",
                         wizard=w.name, detail="claim exists but the queue said PENDING (a crash between claim and "
                                               "mark, or an editor saved a stale copy); not claimed again")
            continue
        c = item.claim
        if o.applied or (o.before is Status.IN_PROGRESS and _other_claimant(fleet, w, qf, c.id) is None):
            # Already IN_PROGRESS with no other claim (a repair beat us to it): the claim is ours and stands.
            # With another claim (the file's routing changed between two runs' reads), the one who
            # marked it keeps it.
            run.claims.append(c)
            out(c.line())
            append_event(events, c.id, "PENDING", "IN_PROGRESS", by=by, attempt=c.attempt, event="dispatch",
                         wizard=w.name, detail=f"claimed by {w.name}" + (" (re-run)" if c.rerun else ""),
                         priority=c.priority)
            continue
        cl.remove_claim(os.path.join(w.house, "work"), c.id)
        run.withdrawn.append(c.id)
        err(f"{w.name}: withdrew the claim on {c.id}: {o.reason}")
        before = o.before.value if o.before else None
        append_event(events, c.id, before, before, by=by, attempt=c.attempt, event="withdrawn", wizard=w.name,
                     detail=f"the task changed in the queue while it was claimed: {o.reason}")
