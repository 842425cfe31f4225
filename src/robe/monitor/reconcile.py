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
import os
from typing import Callable

from ..queue import Change, QueueError, Status, parse, read_text, set_statuses
from ..queue.events import append_event, events_path, read_events
from ..queue.events import now as _now
from ..records import record
from . import files as fs

BARE_GRACE_S = 5.0
ORPHAN_GRACE_S = 120.0
LOCK_TIMEOUT_S = 30.0
#: what the monitor writes in the event log's ``event`` key
RESULT, RETRY, REAP, ORPHAN, VANISHED, LEFT, ARCHIVED = "result", "retry", "reap", "orphan", "vanished", "left", "archived"


def host() -> str:
    return os.uname().nodename


class Transition(record("Transition", "wizard task kind from_ to attempt detail archived", defaults=("", ()))):
    """One thing the run did (or found), printed as one line."""

    __slots__ = ()
    # Fields:
    #   wizard: str
    #   task: str
    #   kind: str
    #   from_: str | None
    #   to: str | None
    #   attempt: int | None
    #   detail: str = ""
    #   archived: tuple = ()

    def line(self) -> str:
        a = f" (attempt {self.attempt})" if self.attempt else ""
        if self.kind in (LEFT, ARCHIVED, VANISHED):
            return f"{self.wizard}: {self.task} {self.kind}{a}: {self.detail}"
        return f"{self.wizard}: {self.task} {self.from_} -> {self.to}{a}: {self.detail}"

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "task": self.task, "kind": self.kind, "from": self.from_, "to": self.to,
                "attempt": self.attempt, "detail": self.detail, "archived": list(self.archived)}


class MonitorReport:
    def __init__(self):
        self.transitions: list[Transition] = []
        self.busy: list[str] = []
        self.errors: list[str] = []
        #: queue files rewritten (the benchmark counts them)
        self.writes = 0
        #: agent process groups of reaped claims that were still running, killed
        self.killed: list[dict] = []

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def to_dict(self) -> dict:
        return {"transitions": [t.to_dict() for t in self.transitions], "busy": self.busy, "errors": self.errors,
                "queue_writes": self.writes, "killed": self.killed, "exit_code": self.exit_code}


class _Item(record(
        "_Item", "kind wizard task qkey qpath target expect attempt detail claim result result_attempt "
        "event_kind events",
        defaults=(False, False, 0, RESULT, ""))):
    """A decided transition, before the queue write."""

    __slots__ = ()
    # Fields:
    #   kind: str           # RESULT, REAP, ORPHAN, or "folded" (the queue already has it: archive only)
    #   wizard: object      # the Wizard, or None for an orphan nobody's house holds
    #   task: str
    #   qkey: str
    #   qpath: str
    #   target: Status | None
    #   expect: tuple
    #   attempt: int
    #   detail: str
    #   claim: bool = False
    #   result: bool = False
    #   result_attempt: int = 0
    #   event_kind: str = RESULT
    #   events: str = ""


class _QueueFile:
    def __init__(self, path: str):
        self.path = path
        self.queue = None
        self.error: str | None = None
        self.mtime = fs.mtime(path)


def _quiet(_line: str) -> None:
    pass


# --- locks -----------------------------------------------------------------------------------


def _dispatch_lock(house: str) -> str:
    """The dispatcher's per-wizard run lock (robe.dispatch.run.lock_path)."""
    return os.path.join(house, "logs", "dispatch.lock")


def _take_lock(path: str, timeout: float) -> int | None:
    from ..queue import flock_wait

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if flock_wait(fd, timeout):
        return fd
    os.close(fd)
    return None


# --- reading results ---------------------------------------------------------------------------


class _Result(record("_Result", "status error attempt")):
    __slots__ = ()
    # Fields:
    #   status: str          # COMPLETE, FAILED or RETRY
    #   error: str
    #   attempt: int | None  # as the .json says


def _read_result(listing: fs.Listing, tid: str, t: float, bare_grace: float) -> _Result | None:
    """The result of ``tid``; None while a bare .txt is younger than ``bare_grace`` (still being written)."""
    if f"{tid}.json" in listing.completed_names:
        meta = fs.read_json(os.path.join(listing.completed, f"{tid}.json"))
        if meta is None:
            return _Result("FAILED", f"completed/{tid}.json is not the JSON object robe's executor writes", None)
        status = str(meta.get("status") or "").upper()
        attempt = meta.get("attempt") if isinstance(meta.get("attempt"), int) and meta["attempt"] > 0 else None
        error = meta.get("error") if isinstance(meta.get("error"), str) else ""
        if status in ("COMPLETE", "RETRY"):
            return _Result(status, error, attempt)
        if status != "FAILED":
            error = f"the result says status {meta.get('status')!r}" + (f": {error}" if error else "")
        return _Result("FAILED", error or f"exit code {meta.get('exit_code')}", attempt)
    m = fs.mtime(os.path.join(listing.completed, f"{tid}.txt"))
    if m is None or t - m < bare_grace:
        return None
    return _Result("COMPLETE", "", None)


class _House:
    """What the run learned about one wizard's house, read lazily and once."""

    def __init__(self, w, t: float, now: _dt.datetime):
        self.w, self.t, self.now = w, t, now
        self.listing = fs.look(w.house)
        self.events = os.path.join(w.house, "logs", "events.jsonl")
        self._archived = None
        self._retries = None
        self._executor = None
        self._seen = None
        #: folders whose entries this run moved: fsynced once at the end
        self.touched: set[str] = set()

    def archived(self) -> dict[str, int]:
        if self._archived is None:
            self._archived = fs.archived_attempts(self.listing.work)
        return self._archived

    def claim_archived(self, tid: str, attempt: int) -> bool:
        return os.path.lexists(os.path.join(self.listing.work, "archive", f"{tid}.{attempt}.active"))

    def retries(self, tid: str, before: int) -> int:
        """Earlier attempts that ended in RETRY (exit 75): they count as no failure."""
        if self._retries is None:
            self._retries = {}
            folder = os.path.join(self.listing.completed, "archive")
            for n in fs._listdir(folder):
                parts = n.split(".")
                if len(parts) == 3 and parts[2] == "json" and parts[1].isdigit():
                    meta = fs.read_json(os.path.join(folder, n))
                    if meta and str(meta.get("status")).upper() == "RETRY":
                        self._retries.setdefault(parts[0], set()).add(int(parts[1]))
        return sum(1 for k in self._retries.get(tid, ()) if k < before)

    def executor(self):
        if self._executor is None:
            from ..fleet.liveness import executor_liveness

            self._executor = executor_liveness(self.w, at=self.now)
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
    from ..dispatch.routing import queue_key

    w, listing, t = h.w, h.listing, h.t
    items: list[_Item] = []
    claims = listing.claims
    results = set(listing.results)
    for tid in claims:
        rec = fs.read_json(os.path.join(listing.work, f"{tid}.active")) or {}
        named = rec.get("queue") if isinstance(rec.get("queue"), str) else None
        # The claim names its queue file; one that is not a queue of this fleet is never written.
        qpath = known.get(queue_key(named), w.queue) if named else w.queue
        attempt = fs.positive_int(rec.get("attempt"), 0) or h.archived().get(tid, 0) + 1
        common = dict(wizard=w, task=tid, qkey=queue_key(qpath), qpath=qpath, attempt=attempt, claim=True,
                      expect=(Status.IN_PROGRESS, Status.PENDING), events=h.events)
        if tid in results:
            res = _read_result(listing, tid, t, bare_grace)
            if res is None:
                continue
            target, kind, detail = _decide(h, tid, attempt, res)
            common["expect"] = tuple(dict.fromkeys(common["expect"] + (target,)))  # target: already applied
            items.append(_Item(RESULT, target=target, detail=detail, result=True, event_kind=kind,
                               result_attempt=res.attempt or attempt, **common))
            continue
        lease = fs.positive_int(rec.get("lease_s"), w.lease)
        signs = [m for m in (fs.mtime(os.path.join(listing.work, f"{tid}.heartbeat")),
                             fs.mtime(os.path.join(listing.work, f"{tid}.active"))) if m is not None]
        if not signs or t - max(signs) <= lease:
            continue
        ex = h.executor()
        if ex.alive:
            continue
        age = t - max(signs)
        why = f"lease of {lease} s ran out ({age:.0f} s since the last heartbeat) and the executor is gone ({ex.detail})"
        target, kind, detail = _after_failure(h, tid, attempt, why, "reaped")
        common["expect"] = tuple(dict.fromkeys(common["expect"] + (target,)))
        items.append(_Item(REAP, target=target, detail=detail, event_kind=REAP, **common))
    for tid in sorted(results - set(claims)):
        res = _read_result(listing, tid, t, bare_grace)
        if res is None:
            continue
        attempt = res.attempt or h.archived().get(tid, 1)
        target, kind, detail = _decide(h, tid, attempt, res)
        folded = h.claim_archived(tid, attempt)
        items.append(_Item("folded" if folded else RESULT, w, tid, queue_key(w.queue), w.queue, target,
                           (Status.IN_PROGRESS,), attempt, detail, claim=False, result=True, result_attempt=attempt,
                           event_kind=kind, events=h.events))
    return items


def _decide(h: _House, tid: str, attempt: int, res: _Result) -> tuple[Status, str, str]:
    if res.status == "COMPLETE":
        return Status.COMPLETE, RESULT, "result COMPLETE" if res.attempt else "result COMPLETE (a bare .txt)"
    if res.status == "RETRY":
        return Status.PENDING, RETRY, f"the agent asked to run later ({res.error or 'exit code 75'}); no failure counted"
    return _after_failure(h, tid, attempt, res.error or "no reason given", "result FAILED")


def _plan_orphans(fleet, selected: set, qfiles: dict, houses: dict, t: float, orphan_grace: float) -> list[_Item]:
    """IN_PROGRESS tasks with no claim and no result in any house, quiet for ``orphan_grace``."""
    from ..dispatch.routing import Router

    held = set()
    for w in fleet.wizards:
        listing = houses[w.name].listing if w.name in houses else fs.look(w.house)
        held.update(listing.claims)
        held.update(listing.results)
    items = []
    signs: dict[str, float] | None = None
    for key, qf in qfiles.items():
        if qf.queue is None:
            continue
        router = Router(fleet, qf.path)
        for task in qf.queue.tasks:
            if task.status is not Status.IN_PROGRESS or task.id in held:
                continue
            r = router.route(task)
            w = next((x for x in fleet.wizards if x.name == r.wizard), None)
            if w is None or w.name not in selected:
                continue  # another wizard's task (its own run handles it), or nobody's
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
            out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet) -> MonitorReport:
    """One monitor run for ``wizards`` (names; all of the fleet when None)."""
    report = MonitorReport()
    now = now or _now()
    t = now.timestamp()
    chosen = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    by = f"monitor:{host()}:{os.getpid()}"
    fds = []
    try:
        houses: dict[str, _House] = {}
        for w in sorted(chosen, key=lambda x: x.name):  # one order for every monitor: no deadlock
            if not os.path.isdir(w.house):
                err(f"{w.name}: no house at {w.house}; nothing to monitor (create it with 'robe wizard create {w.name}')")
                continue
            try:
                fd = _take_lock(_dispatch_lock(w.house), lock_timeout)
            except OSError as e:
                report.errors.append(f"{w.name}: cannot take its dispatch lock: {e.strerror or e}")
                err(report.errors[-1])
                continue
            if fd is None:
                report.busy.append(w.name)
                err(f"{w.name}: busy (a dispatch run held {_dispatch_lock(w.house)} for {lock_timeout:g} s); "
                    "left for the next run")
                continue
            fds.append(fd)
            houses[w.name] = _House(w, t, now)
        items: list[_Item] = []
        from ..dispatch.routing import queue_key

        known = {queue_key(w.queue): w.queue for w in fleet.wizards}
        for h in houses.values():
            try:
                items += _plan_house(h, bare_grace, known)
            except OSError as e:
                report.errors.append(f"{h.w.name}: {e}")
                err(report.errors[-1])
        qfiles = _read_queues(houses, items, report, err)
        if houses:
            items += _plan_orphans(fleet, set(houses), qfiles, houses, t, orphan_grace)
        try:
            _apply(items, qfiles, houses, report, by=by, out=out, err=err)
        finally:
            for h in houses.values():
                for folder in sorted(h.touched):
                    fs.fsync_dir(folder)
        return report
    finally:
        for fd in fds:
            os.close(fd)


def _read_queues(houses, items, report, err) -> dict[str, _QueueFile]:
    from ..dispatch.routing import queue_key

    paths = {queue_key(h.w.queue): h.w.queue for h in houses.values()}
    for it in items:
        paths.setdefault(it.qkey, it.qpath)
    out = {}
    for key, path in paths.items():
        qf = _QueueFile(path)
        if os.path.exists(path):
            try:
                qf.queue = parse(read_text(path), path)
            except QueueError as e:
                qf.error = str(e)
        out[key] = qf
    return out


def _write(qf: _QueueFile, changes: list[Change]):
    """One locked write; reuses this run's parse when the file is byte-for-byte what it read."""
    from ..queue import apply_changes, atomic_write, locked

    if qf.queue is not None:
        data = qf.queue.text.encode("utf-8")

        class Changed(Exception):
            pass

        def same() -> None:
            with open(qf.path, "rb") as f:
                if f.read(len(data) + 1) != data:
                    raise Changed

        try:
            with locked(qf.path):
                same()
                new_text, outcomes = apply_changes(qf.queue, changes)
                wrote = new_text != qf.queue.text
                if wrote:
                    atomic_write(qf.path, new_text.encode("utf-8"), check=same)
                return outcomes, wrote
        except Changed:
            pass
    outcomes = set_statuses(qf.path, changes)
    return outcomes, any(o.applied and o.before != o.after for o in outcomes)


def _apply(items: list[_Item], qfiles: dict, houses: dict, report: MonitorReport, *, by, out, err) -> None:
    by_queue: dict[str, list[_Item]] = {}
    for it in items:
        by_queue.setdefault(it.qkey, []).append(it)
    for key, group in by_queue.items():
        qf = qfiles[key]
        writes = [it for it in group if it.kind != "folded"]
        outcomes = {}
        if writes:
            if qf.queue is None and qf.error is None and not os.path.exists(qf.path):
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
                _finish(it, outcomes.get(id(it)), houses, report, by=by, out=out)
            except (OSError, ValueError) as e:
                report.errors.append(f"{it.task}: could not archive: {e}")
                err(report.errors[-1])
            except Exception as e:  # a bug with one item must not cost the others theirs
                import logging

                logging.getLogger(__name__).exception("task %s: the monitor failed on it", it.task)
                report.errors.append(f"{it.task}: the monitor failed on it: {e!r}")
                err(report.errors[-1])


def _kill_leftover(h: _House, it: _Item, report: MonitorReport) -> None:
    """A reaped claim's agent may outlive its dead executor: kill its process group (same
    host, same pid and start time, as the heartbeat records them), so the task is not run
    twice at once. The heartbeat then moves to the archive, where the next executor to take
    the task would no longer find it."""
    from ..execute.claims import kill_leftover_agent

    pid = kill_leftover_agent(os.path.join(h.listing.work, f"{it.task}.heartbeat"))
    if pid:
        report.killed.append({"task": it.task, "wizard": h.w.name, "pid": pid})


def _finish(it: _Item, o, houses, report: MonitorReport, *, by, out) -> None:
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
        if it.claim:  # the claim first: an executor runs a claim that has no result
            moved += fs.archive_claim(h.listing.work, it.task, it.attempt, sync=False)
            h.touched.update((h.listing.work, os.path.join(h.listing.work, "archive")))
        if it.result:
            moved += fs.archive_result(h.listing.completed, it.task, it.result_attempt or it.attempt, sync=False)
            h.touched.update((h.listing.completed, os.path.join(h.listing.completed, "archive")))
        cut = len(it.wizard.house.rstrip(os.sep)) + 1
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
        if it.kind == ORPHAN:
            record(ORPHAN, before, target, it.detail, move=False)
        elif o.before != o.after:
            record(it.event_kind, before, target, it.detail)
        elif not h.has_event(it.task, it.attempt, target):
            # The queue already says so: an earlier run wrote it and was stopped before its event.
            record(it.event_kind, "IN_PROGRESS", target, it.detail + " (recorded after a monitor restart)")
        else:
            record(ARCHIVED, before, target, f"already {target} in the queue; archived", event=False)
        return
    if it.kind == ORPHAN:
        return  # it changed meanwhile: not an orphan any more
    if o.before is None:
        record(VANISHED, None, None, f"the task is no longer in the queue ({o.reason}); "
               f"{'result' if it.result else 'claim'} archived")
        return
    if not it.claim and o.before in (Status.PENDING, Status.BLOCKED):
        return  # a re-run a person asked for: the dispatcher archives the old result
    record(LEFT, before, before, f"the queue says {before} (a person's change), not IN_PROGRESS: status left, "
           f"{'result' if it.result else 'claim'} archived ({it.detail})")
