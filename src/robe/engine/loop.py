"""The engine's loop: dispatch and monitor in this process, woken by saves and results.

One thread (the one that calls ``Engine.run``) does every dispatch and monitor pass, so a
wizard's dispatch and monitor never overlap and what arrived together is handled together:
each pass takes every wizard that asked for it since the last one, and the library functions
make one locked write per queue file per pass. Both share one parse cache (``Snapshots``), so
a queue file is parsed again only when its bytes changed.

A pass is asked for by:
- a person's save of a queue file (dispatch for the wizards that read it; the executors then
  look for tasks a person cancelled there);
- a result, from this process's executors or from ``completed/`` (monitor for that wizard),
  and a monitor pass that changed something (dispatch: a slot is free, a dependency done);
- the clock: the schedule's dispatch and monitor lines still run (they reap stuck claims).

An exception in one wizard's pass is caught: the pass is tried again wizard by wizard, the
traceback goes to that wizard's ``logs/run.log``, and that wizard is tried again after a
growing pause; the others go on.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass

from ..clock import stamp
from ..broker import start_relay, this_machine_wizards, watch_results
from ..cron.schedule import JOBS, Entry, fleet_schedule
from ..dispatch import dispatch, ensure_gateway
from ..errors import RobeError
from ..execute import Executor
from ..execute import Options as ExecOptions
from ..fleet.config import load_fleet
from ..monitor import monitor
from ..queue import Status
from ..queue.cache import Snapshots
from .jobs import BUSY_RETRY, INLINE, Children, Job, Options, ask, hold_lock, log
from .progress import Progress
from .watch import Watch

TICK = 0.5
#: seconds between two checks of a wizard's gateway (a dispatch pass does not probe it each time)
GATEWAY_EVERY_S = 30.0
#: seconds before the same diagnostic of a pass is printed again
REPEAT_S = 600.0
#: the longest pause before a wizard whose pass raised is tried again
MAX_BACKOFF_S = 60.0


@dataclass
class _Cron:
    entry: Entry
    next_at: _dt.datetime


class Engine:
    def __init__(self, fleet, wizards=None, *, entries: list[Entry] | None = None, options: Options | None = None,
                 now=_dt.datetime.now):
        self.fleet = fleet
        #: the wall clock the schedule reads (local time, as cron does); tests pass their own
        self.now = now
        self.options = options or Options()
        #: the machine with the queue files (always, without a broker) dispatches and monitors;
        #: another machine of a fleet with a broker only runs its own wizards' executors
        self.hub = not fleet.broker or fleet.host == fleet.hub
        if self.hub:
            self.wizards = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
        else:
            self.wizards = this_machine_wizards(fleet, wizards)
        #: the wizards whose executors run here (all of them without a broker)
        self.local = [w for w in self.wizards if not fleet.broker or fleet.runs_here(w)]
        if not self.wizards:
            raise RobeError(f"{fleet.path}: the fleet has no wizards; add one with 'robe wizard create NAME'")
        missing = [w for w in self.wizards if not os.path.isdir(w.house)]
        if missing:
            w = missing[0]
            raise RobeError(f"the house of wizard {w.name} ({w.house}) does not exist; run 'robe init' "
                            f"in {fleet.folder} to build missing houses")
        self.names = [w.name for w in self.wizards]
        self.by_name = {w.name: w for w in self.wizards}
        self.entries = entries if entries is not None else fleet_schedule(fleet, self.names)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.snapshots = Snapshots()
        self.children = Children(fleet, self.wizards, [j for j in JOBS if j not in INLINE],
                                 extra_env=self.options.extra_env, note=self.note, wake=self.wake)
        #: every job of every wizard: the children's, and the passes this loop makes itself
        self.jobs: dict[tuple[str, str], Job] = {**self.children.jobs,
                                                  **{(n, j): Job() for n in self.names for j in INLINE}}
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], int] = {}  # cron locks this process holds, by (wizard, job)
        self._backoff: dict[tuple[str, str], float] = {}
        self._gateway_at: dict[str, float] = {}
        self.progress = Progress(fleet, self.names, line=self.options.progress)
        self.executor: Executor | None = None
        self.relay = None         # the broker's consumer for this machine's wizards
        self.result_watch = None  # on the hub: results of other machines' wizards waiting
        self._exec_thread = None
        self.watch: Watch | None = None
        self._last_dirs = 0.0
        self._looked: dict[str, tuple] = {}
        self._parses_seen = 0
        self._said: dict[str, float] = {}
        self.recreated: list[str] = []
        #: passes made (the tests and the benchmark count them)
        self.passes = {"dispatch": 0, "monitor": 0}

    # -- asking for work
    def request(self, wizard: str, job: str, delay: float = 0.0) -> None:
        """Ask for ``job`` of ``wizard`` in ``delay`` seconds (thread-safe; coalesced)."""
        if job not in INLINE:
            self.children.request(wizard, job, delay)
        elif self.hub:  # (another machine of a broker's fleet neither dispatches nor monitors)
            ask(self.jobs.get((wizard, job)), delay, self._lock, self.wake)

    def request_stop(self) -> None:
        """Stop the loop (from any thread; a signal handler sets ``signalled`` instead)."""
        self.stopping.set()
        self.wake.set()

    #: Set by the signal handler, and only that: a handler runs in the main thread between
    #: two bytecodes, possibly while that thread holds an Event's internal lock (in
    #: wake.wait() or wake.clear()), so calling Event.set() there can deadlock for ever.
    #: The loop polls this every TICK and stops from its own context.
    signalled: str | None = None

    def idle(self) -> bool:
        """No pass asked for and no child job running or asked for."""
        with self._lock:
            inline = all(self.jobs[(n, j)].due is None for n in self.names for j in INLINE)
        return inline and self.children.idle()

    # -- logging to stderr and the wizard's logs/run.log
    def note(self, wizard: str | None, level: int, msg: str, *args, exc: str = "") -> None:
        log.log(level, ("wizard %s: " % wizard if wizard else "") + msg + ("\n" + exc if exc else ""), *args)
        if wizard is None or wizard not in self.by_name:
            return
        line = f"{stamp()} {logging.getLevelName(level)} {msg % args if args else msg}\n{exc}"
        try:
            fd = os.open(os.path.join(self.by_name[wizard].logs_dir, "run.log"),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    # -- the passes
    def _due(self, job: str) -> list[str]:
        """The wizards whose ``job`` pass is due and whose cron lock this process holds."""
        if not self.hub:
            return []
        mono = time.monotonic()
        with self._lock:
            due = [n for n in self.names if (st := self.jobs[(n, job)]).due is not None and st.due <= mono]
            for n in due:
                self.jobs[(n, job)].due = None
        ready = []
        for n in due:
            if (n, job) not in self._held:
                fd = hold_lock(self.by_name[n].house, job)
                if fd is None:  # cron's job runs now: try again shortly
                    self.note(n, logging.DEBUG, "%s is running elsewhere (cron?); trying again in %g s", job, BUSY_RETRY)
                    self.request(n, job, BUSY_RETRY)
                    continue
                self._held[(n, job)] = fd
            ready.append(n)
        return ready

    def _pass(self, job: str, names: list[str]) -> None:
        """One pass of ``job`` for ``names``; when it raises, wizard by wizard."""
        if not names:
            return
        self.passes[job] += 1
        try:
            self._run_pass(job, names)
            ok = names
        except Exception:
            ok = []
            if len(names) == 1:
                self._failed(job, names[0], traceback.format_exc())
            else:
                for n in names:
                    try:
                        self._run_pass(job, [n])
                        ok.append(n)
                    except Exception:
                        self._failed(job, n, traceback.format_exc())
        for n in ok:
            self._backoff.pop((n, job), None)
            st = self.jobs[(n, job)]
            st.runs += 1
            st.last_exit = 0

    def _failed(self, job: str, name: str, tb: str) -> None:
        wait = min(MAX_BACKOFF_S, self._backoff.get((name, job), 0.5) * 2)
        self._backoff[(name, job)] = wait
        st = self.jobs[(name, job)]
        st.runs += 1
        st.last_exit = 1
        self.note(name, logging.ERROR, "%s failed inside robe (trying again in %g s); the other wizards go on",
                  job, wait, exc=tb)
        self.request(name, job, wait)

    def _run_pass(self, job: str, names: list[str]) -> None:
        if job == "monitor":
            report = monitor(self.fleet, names, queues=self.snapshots, out=self.progress.transition,
                             err=self._err)
            if report.transitions:
                # a slot is free, a retry is due, or a task another wizard waits on is done:
                # every wizard is looked at in the next pass (one parse per queue file)
                for name in self.names:
                    self.request(name, "dispatch")
            return
        names = [n for n in names if self._gateway_ok(n)]
        report = dispatch(self.fleet, names, gateway=False, queues=self.snapshots, out=self.progress.transition,
                          err=self._err, note=self._quiet)
        if self.executor is not None:
            for c in report.claims:
                self.executor.offer(c.wizard, c.id)
        for run in report.wizards:
            if run.state == "busy":  # a hand-run 'robe dispatch' or monitor holds the lock
                self.request(run.name, "dispatch", BUSY_RETRY)

    def _check_results(self) -> None:
        """Once a second: a result in completed/ that no executor of this process is about to
        report (another executor's, or an answer left without its outcome by an executor
        killed between the two writes) asks for that wizard's monitor pass."""
        for name, w in self.by_name.items():
            try:
                found = {n.rpartition(".")[0] for n in os.listdir(w.completed_dir)
                         if n.endswith((".json", ".txt")) and not n.startswith(".")}
            except OSError:
                continue
            found -= self._inflight(name)
            if found and self.jobs[(name, "monitor")].due is None:
                self.request(name, "monitor")

    def _gateway_ok(self, name: str) -> bool:
        w = self.by_name[name]
        if w.gateway is None or time.monotonic() - self._gateway_at.get(name, -GATEWAY_EVERY_S) < GATEWAY_EVERY_S:
            return True
        self._gateway_at[name] = time.monotonic()
        ok = ensure_gateway(w, dry_run=False, err=self._err, by=f"dispatcher:robe-run:{os.getpid()}")
        if not ok:
            self._gateway_at.pop(name, None)
            self.request(name, "dispatch", GATEWAY_EVERY_S)
        return ok

    def _err(self, line: str) -> None:
        """A diagnostic of a pass, printed once while it keeps coming: a pass runs after every
        save and result, and a standing condition (a queue with errors left out, a wizard at
        its budget) would otherwise fill the terminal."""
        mono = time.monotonic()
        if mono - self._said.get(line, -REPEAT_S) < REPEAT_S:
            return
        if len(self._said) > 10_000:
            self._said.clear()
        self._said[line] = mono
        log.warning("%s", line)

    def _quiet(self, line: str) -> None:
        log.debug("%s", line)

    def _on_result(self, wizard: str, task_id: str, outcome: dict) -> None:
        self.progress.result(wizard, str(outcome.get("status")))
        self.request(wizard, "monitor")

    def _foreign(self, wizard: str, path: str) -> bool:
        """A result in completed/ that another executor left (this process's executors ask
        for their monitor pass themselves): not one running here, and not folded yet."""
        return os.path.exists(path) and os.path.basename(path)[: -len(".json")] not in self._inflight(wizard)

    def _inflight(self, wizard: str) -> set[str]:
        """IDs this process's executor is running for ``wizard`` (it reports their results)."""
        slot = self.executor.slots.get(wizard) if self.executor is not None else None
        if slot is None:
            return set()
        with self.executor._lock:
            return set(slot.inflight)

    # -- what the person should know
    def _check_queues(self) -> None:
        """Each queue file's errors (from its latest parse) or why it cannot be read; the
        progress prints each once. Only files read again since the last look are looked at."""
        for path in self._queue_readers:
            failure = self.snapshots.failures.get(path)
            snap = self.snapshots.cached(path)
            if self._looked.get(path) == (id(snap), failure):
                continue
            self._looked[path] = (id(snap), failure)
            if failure is not None:
                problems = [failure]
            else:
                problems = [str(p) for p in snap.errors] if snap is not None else []
            self.progress.set_problems(path, problems)

    def _reload_fleet(self) -> None:
        try:
            new = load_fleet(self.fleet.path)
        except (RobeError, OSError) as e:
            self.progress.set_problems("fleet.yaml", [f"{e}\n  robe run keeps the last good fleet.yaml until this "
                                                      "is fixed"])
            return
        self.progress.set_problems("fleet.yaml", [])
        gone = [n for n in self.names if n not in new.names]
        added = [n for n in new.names if n not in self.names and not self._chosen]
        if gone or added:
            log.warning("fleet.yaml now %s; restart robe run to run that set of wizards",
                        "; ".join(x for x in (f"lacks {', '.join(gone)}" if gone else "",
                                              f"adds {', '.join(added)}" if added else "") if x))
        self.fleet = new
        self.children.fleet = new
        for n in self.names:
            if n in new.names:
                w = new.wizard(n)
                self.by_name[n] = w
                if self.executor is not None and n in self.executor.slots:
                    self.executor.slots[n].wizard = w
                self.request(n, "dispatch")
        log.info("fleet.yaml reloaded")

    # -- folders
    def _check_dirs(self) -> None:
        for w in self.by_name.values():
            for d in (w.work_dir, w.completed_dir, w.logs_dir):
                if os.path.isdir(d):
                    continue
                try:
                    os.makedirs(d, mode=0o700, exist_ok=True)
                except OSError as e:
                    log.error("wizard %s: cannot recreate %s: %s", w.name, d, e.strerror or e)
                    continue
                self.recreated.append(d)
                self.note(w.name, logging.WARNING, "%s was missing; recreated it", d)
                if self.watch is not None and os.path.realpath(d) in self.watch.completed:
                    self.watch.schedule(os.path.realpath(d))
                if d == w.work_dir and self.executor is not None:
                    self.executor.scan()

    # -- the executors
    def _start_executor(self) -> None:
        # No inotify of its own: this loop hands it every claim it makes (offer) and looks for
        # cancels on every save; its rescan finds a claim made by anyone else.
        opts = ExecOptions(scan_interval=self.options.exec_scan_interval,
                           shutdown_grace=self.options.exec_shutdown_grace, watch=False)
        self.executor = Executor(self.local, opts, on_result=self._on_result, queues=self.snapshots,
                                 default_priority=self.fleet.default_priority)
        # Alive in logs/executor.json before the first monitor pass: after a kill -9 the file
        # still names the dead run, and the pass would reap the claims this executor is about
        # to run again.
        for slot in self.executor.slots.values():
            slot.house.ensure()
        self.executor.beat()
        # the broker's consumer for this machine's wizards that get their claims through it
        # (None without a broker), before the executor first scans work/
        self.relay = start_relay(self.fleet, self.local)

        def body():
            try:
                self.executor.run()
            except Exception:  # the loop goes on; self-monitor sees the executor gone
                log.exception("the executor stopped with an error")

        self._exec_thread = threading.Thread(target=body, name="robe-run executor", daemon=True)
        self._exec_thread.start()

    def _status_counts(self) -> tuple[dict, dict]:
        running, queued = {}, {}
        if self.executor is not None:
            with self.executor._lock:
                for n, slot in self.executor.slots.items():
                    running[n] = len(slot.inflight)
        for path, readers in self._queue_readers.items():
            snap = self.snapshots.cached(path)
            if snap is None:
                continue
            pending = self._pending_count(snap)
            for n in readers:
                queued[n] = queued.get(n, 0) + (pending if len(readers) == 1 else 0)
        return running, queued

    _pending_cache: tuple = (None, 0)

    def _pending_count(self, snap) -> int:
        if self._pending_cache[0] is not snap:
            self._pending_cache = (snap, sum(1 for t in snap.tasks if t.status is Status.PENDING))
        return self._pending_cache[1]

    # -- the loop
    def run(self, until=None, timeout: float | None = None) -> bool:
        """Run until ``request_stop`` (or ``until(engine)`` is true, or ``timeout`` seconds);
        True when ``until`` was met."""
        met = False
        start = time.monotonic()
        for w in self.wizards:
            for d in (w.work_dir, w.completed_dir, w.logs_dir):
                os.makedirs(d, mode=0o700, exist_ok=True)
        self._chosen = len(self.names) != len(self.fleet.wizards)
        self._queue_readers: dict[str, list[str]] = {}
        for w in self.wizards if self.hub else ():  # the queue files are the hub's
            self._queue_readers.setdefault(os.path.realpath(w.queue), []).append(w.name)
        self.progress.start()
        # watching first: once logs/executor.json says robe run is up, a save is seen
        if self.options.react:
            # completed/ is watched only when the executors run elsewhere (--no-execute): here
            # they say themselves when a result is written
            results = {} if self.options.execute else {os.path.realpath(w.completed_dir): w.name for w in self.wizards}
            self.watch = Watch(self._queue_readers, results,
                               os.path.realpath(self.fleet.path), self.snapshots, self.wake, self.options.debounce)
            self.watch.start()
        if self.options.execute and self.local:
            self._start_executor()
        if self.hub:  # other machines' results, folded as soon as they wait on the broker
            remote = [w.name for w in self.wizards if self.fleet.via_broker(w)]
            self.result_watch = watch_results(self.fleet, lambda: [self.request(n, "monitor") for n in remote])
        now = self.now()
        crons = [_Cron(e, e.next_after(now)) for e in self.entries]
        log.info("robe run: %d wizard(s) (%s), %d scheduled job(s)%s", len(self.names), ", ".join(self.names),
                 len(crons), ", executors in this process" if self.options.execute else "")
        if self.options.kick:
            for n in self.names:
                self.request(n, "monitor")
                self.request(n, "dispatch")
        try:
            while not self.stopping.is_set():
                if self.signalled:
                    log.info("robe run: %s received; finishing", self.signalled)
                    self.request_stop()
                    break
                self.wake.clear()
                self._step(crons)
                if until is not None and until(self):
                    met = True
                    break
                if timeout is not None and time.monotonic() - start >= timeout:
                    break
                self.wake.wait(self._wait(crons))
        finally:
            self._shutdown()
        return met

    def _step(self, crons: list[_Cron]) -> None:
        mono = time.monotonic()
        now = self.now()
        for c in crons:
            if now >= c.next_at:
                self.request(c.entry.wizard, c.entry.job)
                c.next_at = c.entry.next_after(now)
        if mono - self._last_dirs >= 1.0:
            self._last_dirs = mono
            self._check_dirs()
            self._check_results()
        saved = False
        if self.watch is not None:
            saves, results, fleet_changed = self.watch.take()
            if fleet_changed:
                self._reload_fleet()
            for path in saves:
                if self.snapshots.own(path):  # robe's own write: nothing new in it
                    continue
                saved = True
                for n in self._queue_readers.get(path, ()):
                    self.request(n, "dispatch")
            for n, path in results:
                if self._foreign(n, path):
                    self.request(n, "monitor")
        self._pass("monitor", self._due("monitor"))
        dispatched = self._due("dispatch")
        self._pass("dispatch", dispatched)
        self._check_queues()
        # A file parsed (not derived from robe's own write) holds someone else's change: a
        # running task a person set to BLOCKED, FAILED or PENDING is cancelled now. (Looking
        # at the parses, not at the save's event: a pass may have read the save already.)
        if self.executor is not None and (saved or self.snapshots.parses != self._parses_seen):
            self._parses_seen = self.snapshots.parses
            self.executor.check_cancels()
        self.children.start_due(self.stopping)
        self.progress.draw(*self._status_counts())

    def _wait(self, crons: list[_Cron]) -> float:
        wait = TICK
        with self._lock:
            dues = [st.due for (n, j), st in self.jobs.items() if j in INLINE and st.due is not None]
        for d in (min(dues) if dues else None, self.children.next_due(),
                  self.watch.next_due() if self.watch is not None else None):
            if d is not None:
                wait = min(wait, d - time.monotonic())
        if crons:
            wait = min(wait, min((c.next_at - self.now()).total_seconds() for c in crons) + 0.01)
        return max(0.0, wait)

    def _shutdown(self) -> None:
        log.info("robe run: stopping")
        if self.watch is not None:
            self.watch.stop()
        # the children first: a self-monitor that saw the executor stop would start another
        self.children.stop(self.options.grace)
        if self.executor is not None:
            self.executor.request_stop()
        if self._exec_thread is not None:
            self._exec_thread.join(self.options.exec_shutdown_grace + 15.0)
        for part in (self.relay, self.result_watch):  # the relay sends its last results
            if part is not None:
                part.stop()
        # what the executors finished while stopping is folded in before robe run ends
        pending = [n for n in self.names if self.jobs[(n, "monitor")].due is not None and (n, "monitor") in self._held]
        if pending:
            try:
                self._run_pass("monitor", pending)
            except Exception:
                log.exception("robe run: the last monitor pass failed")
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
        self.progress.close()
        log.info("robe run: stopped")


def install_signal_handlers(engine: Engine) -> None:
    def stop(signum, frame):
        # Only a plain assignment: no lock, no logging (see Engine.signalled).
        engine.signalled = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
