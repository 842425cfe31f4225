"""The executor: watches each wizard's work/, runs every claim once with the wizard's agent,
and leaves a result or a reason in completed/.

The file system is the truth; watchdog events only wake the executor early. A scan at start
and every few seconds finds whatever inotify dropped (its queue overflows) or whatever came
while nobody watched. Each wizard has ``max_parallel`` worker threads; a claim is taken
under its per-claim flock and only when it has no result yet, so two executors on one
wizard never run a claim twice at the same time.

Stopping (SIGTERM/SIGINT or ``request_stop``): no new claim is taken; a running agent has
``shutdown_grace`` seconds to finish, then its process group is killed; its claim stays in
work/ for the monitor to reap and dispatch again.
"""

from __future__ import annotations

import errno
import logging
import os
import queue as _queue
import shutil
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..clock import now, stamp
from ..errors import RobeError
from ..house import DEFAULT_OUTPUT_CAP, ClaimError, ClaimLock, Heartbeat, House, cancel_reason
from ..plumbing import host
from ..plumbing import observer as plumbing_observer
from ..queue import DEFAULT_PRIORITY, QueueError, is_valid_id
from ..queue.cache import Snapshots
from ..queue.events import append_event
from .agents import ADAPTERS, CANCELLED, COMPLETE, FAILED, AgentRun, Job, build_prompt
from .usage import with_seconds

log = logging.getLogger("robe.execute")
#: agents that run as a process: their heartbeat starts with the process (and names its pid)
PROCESS_AGENTS = ("command", "hermes")


@dataclass(frozen=True)
class Options:
    """How the executor paces itself; the defaults are the contract's (docs/contracts.md)."""

    #: seconds between rescans of work/ (inotify may drop events)
    scan_interval: float = 2.0
    #: seconds between heartbeats (work/<ID>.heartbeat and logs/executor.json)
    heartbeat_interval: float = 5.0
    #: seconds between SIGTERM and SIGKILL for an agent's process group
    grace: float = 5.0
    #: seconds a running agent may go on after the executor was told to stop
    shutdown_grace: float = 10.0
    output_cap: int = DEFAULT_OUTPUT_CAP
    #: openai agent: tries after the first on connection errors, 429 and 5xx, and the first wait
    retries: int = 4
    backoff: float = 1.0
    #: wake on inotify events (False: scans only)
    watch: bool = True

    def validate(self) -> None:
        for name in ("scan_interval", "heartbeat_interval"):
            if getattr(self, name) <= 0:
                raise RobeError(f"--{name.replace('_', '-')} must be more than 0 seconds")
        if self.grace < 0 or self.shutdown_grace < 0:
            raise RobeError("--grace and --shutdown-grace cannot be negative")
        if self.output_cap < 1024:
            raise RobeError("--output-cap must be at least 1024 bytes")


@dataclass
class _Slot:
    """One wizard as the executor runs it."""

    wizard: object
    house: House
    inbox: _queue.Queue = field(default_factory=_queue.Queue)
    inflight: set = field(default_factory=set)
    workers: list = field(default_factory=list)
    #: threads running asks beside the workers (see ``offer``)
    asks: list = field(default_factory=list)


class Executor:
    """``on_result(wizard, task_id, outcome)`` is called from the worker thread after each
    result is written and the claim's lock released (robe run folds it at once); ``queues`` and ``default_priority`` are how
    the queue files are read to see a running task cancelled there."""

    def __init__(self, wizards, options: Options | None = None, *,
                 on_result: Callable[[str, str, dict], None] | None = None, queues: Snapshots | None = None,
                 default_priority: str = DEFAULT_PRIORITY):
        self.options = options or Options()
        self.options.validate()
        if not wizards:
            raise RobeError("there is no wizard to execute for; add one with 'robe wizard create NAME'")
        self.slots = {w.name: _Slot(w, House(w.house, w.name)) for w in wizards}
        self.by = f"executor:{host()}:{os.getpid()}"
        self.started_at = stamp()
        self.stopping = threading.Event()  # take no new claim
        self.cancel = threading.Event()    # kill running agents
        self.on_result = on_result
        self.queues = queues if queues is not None else Snapshots()
        self.default_priority = default_priority
        #: the stop event of each claim running here, and why a person asked to stop it
        self._running: dict[tuple[str, str], threading.Event] = {}
        self._cancels: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        #: the latest outcomes written (bounded: an executor may run for months)
        self.outcomes: deque = deque(maxlen=100_000)
        #: results that could not be written (one sentence each), for the command's exit code
        self.failures: list[str] = []
        self._observer = None

    # -- taking claims
    def offer(self, name: str, task_id: str) -> bool:
        """Queue a claim for a worker unless it is already queued or running here.

        A question from another wizard (an ask) runs at once on a thread of its own instead:
        its asker may be waiting for the answer while it holds one of this wizard's workers
        (A asks B while B asks A). The dispatcher bounds how many asks there are.
        """
        slot = self.slots[name]
        with self._lock:
            if self.stopping.is_set() or task_id in slot.inflight:
                return False
            slot.inflight.add(task_id)
        if isinstance((slot.house.claim_record(task_id) or {}).get("ask"), dict):
            thread = threading.Thread(target=self._run_one, args=(name, task_id), daemon=True,
                                      name=f"robe-execute {name} ask {task_id}")
            with self._lock:
                slot.asks = [t for t in slot.asks if t.is_alive()] + [thread]
            thread.start()
        else:
            slot.inbox.put(task_id)
        return True

    def scan(self) -> int:
        """Offer every claim in work/ that has no result; how many were new."""
        n = 0
        for name, slot in self.slots.items():
            for task_id in slot.house.pending_ids():
                n += self.offer(name, task_id)
        return n

    # -- running one claim
    def run_claim(self, name: str, task_id: str) -> dict | None:
        """Run one claim to its result; None when it was not ours to run (or we were stopped)."""
        slot = self.slots[name]
        house, w, opt = slot.house, slot.wizard, self.options
        if self.stopping.is_set():
            return None
        lock = ClaimLock(house.lock_path(task_id))
        if not lock.acquire():
            log.debug("wizard %s: %s is being run by another executor", name, task_id)
            return None
        done = False
        scratch = None
        try:
            if not os.path.lexists(house.claim_path(task_id)) or house.has_result(task_id):
                done = True  # nothing to run: the lock file goes with the lock
                return None
            started, t0 = now(), time.monotonic()
            try:
                claim = house.read_claim(task_id)
            except FileNotFoundError:
                return None
            except (ClaimError, OSError) as e:
                reason = str(e) if isinstance(e, ClaimError) else f"cannot read the claim: {e.strerror}"
                outcome = self._outcome(name, task_id, house.claim_attempt(task_id), w.agent.kind, FAILED,
                                        None, reason, started, t0, False)
                if not self._write_result(house, task_id, f"[robe: the claim could not be run: {reason}]\n".encode(),
                                          outcome):
                    return None
                done = True
                self._event(house, task_id, outcome, "the claim could not be run")
                log.warning("wizard %s: %s: %s", name, task_id, reason)
                return self._record(outcome)

            reason = self._cancel_reason(name, task_id)
            if reason is not None:  # cancelled before its agent started: nothing to stop
                return self._cancelled(house, name, task_id, claim.attempt, w.agent.kind, reason, b"", started, t0)
            leftover = house.kill_leftover_agent(task_id)
            if leftover:
                log.warning("wizard %s: %s: killed agent group %d left running by an executor that died",
                            name, task_id, leftover)
            scratch = house.scratch_dir(task_id)
            try:
                os.mkdir(scratch, 0o700)
            except FileExistsError:  # left by an executor that died: start clean
                shutil.rmtree(scratch, ignore_errors=True)
                os.mkdir(scratch, 0o700)
            heartbeat = Heartbeat(house.heartbeat_path(task_id), opt.heartbeat_interval, stamp(started))
            stop = self._started(name, task_id)
            with heartbeat:
                job = Job(claim=claim, wizard=w, house=house, prompt=build_prompt(claim, house), scratch=scratch,
                          timeout=float(w.timeout), cap=opt.output_cap, grace=opt.grace, cancel=stop,
                          on_start=lambda pid: heartbeat.begin(agent_pid=pid), retries=opt.retries,
                          backoff=opt.backoff)
                if w.agent.kind not in PROCESS_AGENTS:
                    heartbeat.begin()
                log.info("wizard %s: running %s (attempt %d) with %s", name, task_id, claim.attempt, w.agent.kind)
                try:
                    run = ADAPTERS[w.agent.kind](job)
                except Exception as e:  # an adapter bug must still leave a reason, not a hung claim
                    log.exception("wizard %s: %s: the %s agent raised", name, task_id, w.agent.kind)
                    run = AgentRun(FAILED, b"", None, f"robe could not run the {w.agent.kind} agent: {e}")
            reason = self._cancel_reason(name, task_id) if run.cancelled else None
            if reason is not None:
                heartbeat.remove()
                out = run.answer + f"\n[robe: cancelled ({reason}); the agent was stopped]\n".encode()
                return self._cancelled(house, name, task_id, claim.attempt, w.agent.kind, reason, out, started, t0)
            if run.cancelled:
                # Shutting down: no result; the claim stays and the monitor reaps it once the
                # lease is over (no heartbeat left to keep it alive).
                heartbeat.remove()
                self._event(house, task_id, {"attempt": claim.attempt, "status": None},
                            "the executor stopped while the agent ran; the claim stays for the monitor", "stopped")
                log.warning("wizard %s: %s stopped by shutdown; the claim stays", name, task_id)
                return None
            answer = run.answer.decode("utf-8", errors="replace")
            if run.dropped:
                answer += f"\n[robe: output cut at {opt.output_cap} bytes]\n"
            outcome = self._outcome(name, task_id, claim.attempt, w.agent.kind, run.status, run.exit_code,
                                    run.error, started, t0, bool(run.dropped), run.extra)
            if not self._write_result(house, task_id, answer.encode("utf-8"), outcome):
                return None
            done = True
            heartbeat.remove()
            self._event(house, task_id, outcome, run.error or "")
            if run.status == COMPLETE:
                log.info("wizard %s: %s COMPLETE in %.1f s", name, task_id, outcome["duration_s"])
            else:
                log.warning("wizard %s: %s %s: %s", name, task_id, run.status, run.error)
            return self._record(outcome)
        finally:
            with self._lock:
                self._running.pop((name, task_id), None)
                self._cancels.pop((name, task_id), None)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            lock.release(remove=done)

    def _cancelled(self, house: House, name: str, task_id: str, attempt: int, agent: str, reason: str,
                   answer: bytes, started, t0) -> dict | None:
        """The result of a claim a person cancelled: CANCELLED, with the reason (the monitor
        archives it and leaves the queue's status as the person wrote it)."""
        outcome = self._outcome(name, task_id, attempt, agent, CANCELLED, None, reason, started, t0, False)
        if not self._write_result(house, task_id, answer, outcome):
            return None
        self._event(house, task_id, outcome, reason, "cancelled")
        log.warning("wizard %s: %s cancelled: %s", name, task_id, reason)
        return self._record(outcome)

    # -- cancelling
    def _started(self, name: str, task_id: str) -> threading.Event:
        stop = threading.Event()
        with self._lock:
            self._running[(name, task_id)] = stop
            if self.cancel.is_set() or (name, task_id) in self._cancels:
                stop.set()
        return stop

    def _cancel_reason(self, name: str, task_id: str) -> str | None:
        with self._lock:
            reason = self._cancels.get((name, task_id))
        return reason if reason is not None else self.slots[name].house.cancel_request(task_id)

    def cancel_claim(self, name: str, task_id: str, reason: str) -> bool:
        """Stop the agent running ``task_id`` for wizard ``name`` (its process group: SIGTERM,
        then SIGKILL), or keep it from starting; its result says CANCELLED with ``reason``.
        False when this executor does not hold the claim."""
        key = (name, task_id)
        with self._lock:
            if name not in self.slots or task_id not in self.slots[name].inflight:
                return False
            first = key not in self._cancels
            self._cancels[key] = reason
            stop = self._running.get(key)
        if stop is not None:
            if first:
                log.info("wizard %s: %s: stopping its agent (%s)", name, task_id, reason)
            stop.set()
        return True

    def check_cancels(self) -> int:
        """Cancel every claim held here whose task a person set to BLOCKED, FAILED or back to
        PENDING in its queue, or that ``robe cancel`` asked to stop; how many were cancelled.
        The queue files are read only while something runs (and parsed only when changed)."""
        n = 0
        for name, slot in self.slots.items():
            with self._lock:
                held = [t for t in slot.inflight if (name, t) not in self._cancels]
            for task_id in held:
                reason = slot.house.cancel_request(task_id) or self._queue_cancel(slot, task_id)
                if reason is not None and self.cancel_claim(name, task_id, reason):
                    n += 1
        return n

    def _queue_cancel(self, slot: _Slot, task_id: str) -> str | None:
        rec = slot.house.claim_record(task_id)
        qpath = rec.get("queue") if rec and isinstance(rec.get("queue"), str) else slot.wizard.queue
        try:
            task = self.queues.read(qpath, self.default_priority).by_id().get(task_id)
        except (QueueError, OSError):
            return None  # unreadable now: a cancel waits for a file robe can read
        return cancel_reason(task.status, rec) if task is not None else None

    def _write_result(self, house: House, task_id: str, answer: bytes, outcome: dict) -> bool:
        """Write the result; on a full disk (or any write error) say so in one sentence and
        leave the claim for the next try (False)."""
        try:
            house.write_result(task_id, answer, outcome)
            return True
        except OSError as e:
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            message = f"wizard {house.wizard}: {task_id}: cannot write its result: {why}; the claim stays for the next try"
            log.error("%s", message)
            with self._lock:
                self.failures.append(message)
            return False

    def _outcome(self, name, task_id, attempt, agent, status, exit_code, error, started, t0, truncated,
                 extra=None) -> dict:
        out = {"id": task_id, "wizard": name, "attempt": attempt, "status": status, "exit_code": exit_code,
               "error": error, "agent": agent, "started_at": stamp(started), "finished_at": stamp(),
               "duration_s": round(time.monotonic() - t0, 3), "truncated": truncated}
        out.update(extra or {})
        out["spend"] = with_seconds(out.get("spend"), out["duration_s"])  # every attempt: docs/contracts.md
        return out

    def _event(self, house: House, task_id: str, outcome: dict, detail: str, step: str = "result") -> None:
        try:
            append_event(house.events, task_id, None, None, by=self.by, attempt=outcome["attempt"],
                         detail=detail, step=step, status=outcome["status"])
        except OSError as e:  # the result is what counts; a full log must not lose it
            log.warning("wizard %s: cannot append to %s: %s", house.wizard, house.events, e.strerror)

    def _record(self, outcome: dict) -> dict:
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    # -- workers
    def _work(self, name: str) -> None:
        slot = self.slots[name]
        while True:
            task_id = slot.inbox.get()
            if task_id is None:
                return
            self._run_one(name, task_id)

    def _run_one(self, name: str, task_id: str) -> None:
        try:
            outcome = self.run_claim(name, task_id) if not self.stopping.is_set() else None
            # Told once the claim's lock is released: what the listener starts (robe run's
            # monitor, the next dispatch) finds the claim settled.
            if outcome is not None and self.on_result is not None:
                try:
                    self.on_result(name, task_id, outcome)
                except Exception:  # the result is written; a listener's bug must not stop the worker
                    log.exception("wizard %s: %s: the result listener failed", name, task_id)
        except OSError as e:  # the disk full, a folder gone: one sentence; the claim stays for the next try
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            message = f"wizard {name}: {task_id}: could not run it: {why}; the claim stays for the next try"
            log.error("%s", message)
            with self._lock:
                self.failures.append(message)
        except Exception:  # a bad claim must not stop the wizard's worker
            log.exception("wizard %s: %s failed inside robe", name, task_id)
        finally:
            with self._lock:
                self.slots[name].inflight.discard(task_id)
                self._cancels.pop((name, task_id), None)

    def _start_workers(self) -> None:
        for name, slot in self.slots.items():
            for i in range(max(1, int(getattr(slot.wizard, "max_parallel", 1) or 1))):
                t = threading.Thread(target=self._work, args=(name,), name=f"robe-execute {name} #{i + 1}", daemon=True)
                t.start()
                slot.workers.append(t)

    def _close_inboxes(self) -> None:
        for slot in self.slots.values():
            for _ in slot.workers:
                slot.inbox.put(None)

    def _drain_inboxes(self) -> None:
        """Forget queued claims (they stay in work/ for the next executor)."""
        for slot in self.slots.values():
            while True:
                try:
                    task_id = slot.inbox.get_nowait()
                except _queue.Empty:
                    break
                if task_id is not None:
                    with self._lock:
                        slot.inflight.discard(task_id)

    def _join_workers(self, timeout: float | None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        for slot in self.slots.values():
            with self._lock:
                threads = slot.workers + slot.asks
            for t in threads:
                t.join(None if end is None else max(end - time.monotonic(), 0))
        with self._lock:
            return not any(t.is_alive() for s in self.slots.values() for t in s.workers + s.asks)

    # -- the body's own liveness
    def beat(self) -> None:
        """Rewrite logs/executor.json in every house (robe status: Robed or Lobster)."""
        data = {"pid": os.getpid(), "host": host(), "started_at": self.started_at, "heartbeat_at": stamp(),
                "wizards": sorted(self.slots)}
        for slot in self.slots.values():
            try:
                slot.house.write_executor(data)
            except OSError as e:
                log.warning("wizard %s: cannot write %s: %s", slot.house.wizard, slot.house.executor_file, e.strerror)

    def _unbeat(self) -> None:
        for slot in self.slots.values():
            try:
                slot.house.clear_executor(os.getpid())
            except OSError:
                pass

    # -- watching
    def _watch(self) -> None:
        from watchdog.events import FileCreatedEvent, FileMovedEvent, FileSystemEventHandler

        executor = self

        class Wake(FileSystemEventHandler):
            def __init__(self, name: str):
                self.name = name

            def _saw(self, path) -> None:
                name = os.path.basename(os.fsdecode(path))
                if name.startswith("."):
                    return
                if name.endswith(".active") and is_valid_id(name[:-7]):
                    executor.offer(self.name, name[:-7])
                elif name.endswith(".cancel") and is_valid_id(name[:-7]):
                    reason = executor.slots[self.name].house.cancel_request(name[:-7])
                    if reason is not None:
                        executor.cancel_claim(self.name, name[:-7], reason)

            def on_created(self, event):
                self._saw(event.src_path)

            def on_moved(self, event):
                self._saw(event.dest_path)

        observer = plumbing_observer()
        for name, slot in self.slots.items():
            observer.schedule(Wake(name), slot.house.work, recursive=False,
                              event_filter=[FileCreatedEvent, FileMovedEvent])
        observer.start()
        self._observer = observer

    # -- the loop
    def request_stop(self) -> None:
        """Take no new claim; ``run`` then winds down (from any thread; a signal handler
        sets ``signalled`` instead)."""
        self.stopping.set()

    #: Set by the signal handler, and only that: Event.set() from a handler can deadlock when
    #: the main thread is inside that Event's wait() holding its internal lock. The loop
    #: polls this at least once a second.
    signalled: str | None = None

    def _check_signal(self) -> None:
        if self.signalled and not self.stopping.is_set():
            log.info("executor %s: %s received; finishing", self.by, self.signalled)
            self.stopping.set()

    def run(self, once: bool = False) -> list[dict]:
        """Watch and run claims until ``request_stop`` (or, with ``once``, until every claim
        present at the start has a result); the outcomes written, in order."""
        for slot in self.slots.values():
            slot.house.ensure()
        self.beat()
        self._start_workers()
        try:
            if once:
                self.scan()
                self._close_inboxes()
                while not self._join_workers(0.2):
                    self._check_signal()
                    if self.stopping.is_set():
                        break
                    self._maybe_beat()
            else:
                if self.options.watch:
                    self._watch()
                names = ", ".join(f"{n} ({s.house.work})" for n, s in self.slots.items())
                log.info("executor %s: watching %s", self.by, names)
                self.scan()
                next_scan = time.monotonic() + self.options.scan_interval
                while not self.stopping.is_set():
                    self.stopping.wait(min(self.options.scan_interval, self.options.heartbeat_interval, 1.0))
                    self._check_signal()
                    if self.stopping.is_set():
                        break
                    if time.monotonic() >= next_scan:
                        self.scan()
                        self.check_cancels()
                        next_scan = time.monotonic() + self.options.scan_interval
                    self._maybe_beat()
            return list(self.outcomes)
        finally:
            self._shutdown()

    _last_beat = 0.0

    def _maybe_beat(self) -> None:
        if time.monotonic() - self._last_beat >= self.options.heartbeat_interval:
            self._last_beat = time.monotonic()
            self.beat()

    def _shutdown(self) -> None:
        self.stopping.set()
        if self._observer is not None:
            self._observer.stop()
        self._drain_inboxes()
        self._close_inboxes()
        # Running agents get the grace period, then their process groups are killed.
        if not self._join_workers(self.options.shutdown_grace):
            log.warning("executor %s: agents still running after %g s; stopping them", self.by,
                        self.options.shutdown_grace)
            self.cancel.set()
            with self._lock:
                running = list(self._running.values())
            for stop in running:
                stop.set()
            self._join_workers(self.options.grace + 5.0)
        if self._observer is not None:
            try:
                self._observer.join(2.0)
            except RuntimeError:
                pass
        self._unbeat()


def install_signal_handlers(executor: Executor) -> None:
    """SIGTERM and SIGINT only set the stop flag; the loop notices and winds down."""
    def stop(signum, frame):
        # Only a plain assignment: no lock, no logging (see Executor.signalled).
        executor.signalled = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
