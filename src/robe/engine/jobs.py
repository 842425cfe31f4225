"""robe run: the embedded scheduler. One foreground process for machines without cron.

What runs where:

- The executors run *in this process*, one ``robe.execute.Executor`` for all the wizards
  (threads; no extra interpreter per wizard, so ten idle wizards cost one process).
- Every scheduled job runs as the same child process cron would run (``robe dispatch
  --wizard W``, ``robe monitor --wizard W``, ...), under the same ``logs/cron-<job>.lock``
  that the crontab lines take with ``flock -n``: a job never runs twice at once for one
  wizard, whether cron or robe run started it, and a crash in a job cannot take the
  scheduler down. Children's output is appended to the wizard's ``logs/cron.log``.

Beyond the clock (croniter), watchdog observers make the loop react at once: a change to a
WORK-QUEUE.md (its folder is watched: editors replace the file) asks for a dispatch of the
wizards that read it, and a new result in ``completed/`` asks for that wizard's monitor. Requests
are coalesced: a burst of events gives one run, and a request while the job runs gives one
more run after it. A deleted ``work/``, ``completed/`` or ``logs/`` is recreated within a
second. SIGINT/SIGTERM only set a flag; the loop then stops the observers, lets running
jobs and agents finish within the grace period, and stops what is left.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from .clock import stamp
from .cron.crontab import cron_log, lock_file
from .cron.schedule import JOBS, Entry, fleet_schedule, job_args, robe_command
from .errors import RobeError
from .execute import Executor
from .execute import Options as ExecOptions

log = logging.getLogger("robe.cron.run")
TICK = 0.5
BUSY_RETRY = 1.0
EXCLUSIVE = {"dispatch": "monitor", "monitor": "dispatch"}


@dataclass
class _Job:
    proc: subprocess.Popen | None = None
    #: monotonic time at which the job should start (None: not asked for)
    due: float | None = None
    runs: int = 0
    last_exit: int | None = None
    started_at: float = 0.0


@dataclass
class _Cron:
    entry: Entry
    next_at: _dt.datetime


@dataclass
class Options:
    #: seconds between an event and the job it asks for (a burst gives one run)
    debounce: float = 0.05
    #: seconds running jobs may finish after a stop was asked for
    grace: float = 10.0
    #: run the executors in this process
    execute: bool = True
    #: react to file events (False: the clock only)
    react: bool = True
    #: dispatch and monitor every wizard once at start
    kick: bool = True
    exec_scan_interval: float = 2.0
    exec_shutdown_grace: float = 10.0
    extra_env: dict = field(default_factory=dict)


class Runner:
    def __init__(self, fleet, wizards=None, *, entries: list[Entry] | None = None, options: Options | None = None,
                 now=_dt.datetime.now):
        self.fleet = fleet
        #: the wall clock the schedule reads (local time, as cron does); tests pass their own
        self.now = now
        self.options = options or Options()
        self.wizards = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
        if not self.wizards:
            raise RobeError(f"{fleet.path}: the fleet has no wizards; add one with 'robe wizard create NAME'")
        missing = [w for w in self.wizards if not os.path.isdir(w.house)]
        if missing:
            w = missing[0]
            raise RobeError(f"the house of wizard {w.name} ({w.house}) does not exist; run 'robe init' "
                            f"in {fleet.folder} to build missing houses")
        self.by_name = {w.name: w for w in self.wizards}
        self.entries = entries if entries is not None else fleet_schedule(fleet, [w.name for w in self.wizards])
        self.jobs = {(w.name, j): _Job() for w in self.wizards for j in JOBS}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.executor = None
        self._exec_thread = None
        self.observer = None
        self._watches: dict[str, object] = {}
        self._completed: dict[str, str] = {}  # real completed/ dir -> wizard
        self._queues: dict[str, list[str]] = {}  # real queue path -> wizards reading it
        self._last_dirs = 0.0
        self.recreated: list[str] = []

    # -- asking for jobs
    def request(self, wizard: str, job: str, delay: float = 0.0) -> None:
        """Ask for ``job`` of ``wizard`` in ``delay`` seconds (thread-safe; coalesced)."""
        key = (wizard, job)
        if key not in self.jobs:
            return
        t = time.monotonic() + delay
        with self.lock:
            st = self.jobs[key]
            st.due = t if st.due is None else min(st.due, t)
        self.wake.set()

    def request_stop(self) -> None:
        """Stop the loop (from any thread; a signal handler uses ``signalled`` instead)."""
        self.stopping.set()
        self.wake.set()

    #: Set by the signal handler, and only that: a handler runs in the main thread between
    #: two bytecodes, possibly while that thread holds an Event's internal lock (in
    #: wake.wait() or wake.clear()), so calling Event.set() there can deadlock for ever.
    #: The loop polls this every TICK and stops from its own context.
    signalled: str | None = None

    def idle(self) -> bool:
        """No job running or asked for."""
        with self.lock:
            return all(st.proc is None and st.due is None for st in self.jobs.values())

    # -- logging to stderr and the wizard's logs/run.log
    def note(self, wizard: str | None, level: int, msg: str, *args) -> None:
        log.log(level, ("wizard %s: " % wizard if wizard else "") + msg, *args)
        if wizard is None:
            return
        w = self.by_name[wizard]
        line = f"{stamp()} {logging.getLevelName(level)} {msg % args if args else msg}\n"
        try:
            fd = os.open(os.path.join(w.logs_dir, "run.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                         0o600)
            try:
                os.write(fd, line.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    # -- children
    def _start(self, key: tuple[str, str]) -> None:
        name, job = key
        w = self.by_name[name]
        st = self.jobs[key]
        os.makedirs(w.logs_dir, mode=0o700, exist_ok=True)
        lock_fd = os.open(lock_file(w.house, job), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            with self.lock:
                st.due = time.monotonic() + BUSY_RETRY
            self.note(name, logging.DEBUG, "%s is running elsewhere (cron?); trying again in %g s", job, BUSY_RETRY)
            return
        argv = robe_command() + list(job_args(self.fleet, w, job))
        env = dict(os.environ, ROBE_FLEET=self.fleet.path, **self.options.extra_env)
        out_fd = os.open(cron_log(w.house), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            # The child inherits the lock and holds it until it exits; its own session, so a
            # Ctrl-C in the terminal reaches only robe run, which stops children in order.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_fd, stderr=out_fd, cwd=w.house,
                                    env=env, start_new_session=True, pass_fds=(lock_fd,))
        except OSError as e:
            self.note(name, logging.ERROR, "cannot start %s: %s", job, e.strerror or e)
            return
        finally:
            os.close(lock_fd)
            os.close(out_fd)
        with self.lock:
            st.proc = proc
            st.runs += 1
            st.started_at = time.monotonic()
        self.note(name, logging.DEBUG, "%s started (pid %d)", job, proc.pid)
        threading.Thread(target=self._reap, args=(key, proc), name=f"robe-run wait {name} {job}", daemon=True).start()

    def _reap(self, key, proc: subprocess.Popen) -> None:
        code = proc.wait()
        name, job = key
        took = time.monotonic() - self.jobs[key].started_at
        with self.lock:
            st = self.jobs[key]
            st.proc = None
            st.last_exit = code
        if code:
            self.note(name, logging.WARNING, "%s exited %d after %.1f s (see %s)", job, code, took,
                      cron_log(self.by_name[name].house))
        else:
            self.note(name, logging.DEBUG, "%s done in %.2f s", job, took)
        if job == "dispatch" and self.executor is not None:
            self.executor.scan()  # the new claims, without waiting for inotify or the rescan
        if job == "monitor":
            # what the monitor freed (a retry, a dependency now COMPLETE, a reaped claim) is
            # dispatched now, even when it wrote nothing that the queue's watcher would see
            self.request(name, "dispatch")
        self.wake.set()

    # -- file events
    def _watch(self) -> None:
        runner = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
                    return
                path = os.fsdecode(event.dest_path if event.event_type == "moved" else event.src_path)
                runner._saw(path)

        self._handler = Handler()
        self.observer = Observer()
        self.observer.daemon = True
        for w in self.wizards:
            q = os.path.realpath(w.queue)
            self._queues.setdefault(q, []).append(w.name)
            self._completed[os.path.realpath(w.completed_dir)] = w.name
        for folder in sorted({os.path.dirname(q) for q in self._queues} | set(self._completed)):
            self._schedule(folder)
        self.observer.start()

    def _schedule(self, folder: str) -> None:
        old = self._watches.pop(folder, None)
        if old is not None:
            try:
                self.observer.unschedule(old)
            except (KeyError, OSError):
                pass
        try:
            self._watches[folder] = self.observer.schedule(self._handler, folder, recursive=False)
        except OSError as e:
            log.warning("cannot watch %s: %s (the schedule still runs)", folder, e.strerror or e)

    def _saw(self, path: str) -> None:
        folder, base = os.path.split(path)
        wizard = self._completed.get(folder)
        if wizard is not None:
            if not base.startswith(".") and base.endswith((".json", ".txt")):
                self.request(wizard, "monitor", self.options.debounce)
            return
        for name in self._queues.get(path, ()):
            self.request(name, "dispatch", self.options.debounce)

    # -- folders
    def _check_dirs(self) -> None:
        for w in self.wizards:
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
                if self.observer is not None and os.path.realpath(d) in self._completed:
                    self._schedule(os.path.realpath(d))
                if d == w.work_dir and self.executor is not None:
                    self.executor.scan()

    # -- the executors
    def _start_executor(self) -> None:
        opts = ExecOptions(scan_interval=self.options.exec_scan_interval,
                           shutdown_grace=self.options.exec_shutdown_grace)
        self.executor = Executor(self.wizards, opts)

        def body():
            try:
                self.executor.run()
            except Exception:  # the schedule goes on; self-monitor sees the executor gone
                log.exception("the executor stopped with an error")

        self._exec_thread = threading.Thread(target=body, name="robe-run executor", daemon=True)
        self._exec_thread.start()

    # -- the loop
    def run(self, until=None, timeout: float | None = None) -> bool:
        """Run until ``request_stop`` (or ``until(runner)`` is true, or ``timeout`` seconds);
        True when ``until`` was met."""
        met = False
        start = time.monotonic()
        for w in self.wizards:
            for d in (w.work_dir, w.completed_dir, w.logs_dir):
                os.makedirs(d, mode=0o700, exist_ok=True)
        if self.options.execute:
            self._start_executor()
        if self.options.react:
            self._watch()
        now = self.now()
        crons = [_Cron(e, e.next_after(now)) for e in self.entries]
        names = ", ".join(w.name for w in self.wizards)
        log.info("robe run: %d wizard(s) (%s), %d scheduled job(s)%s", len(self.wizards), names, len(crons),
                 ", executors in this process" if self.options.execute else "")
        if self.options.kick:
            for w in self.wizards:
                self.request(w.name, "monitor")
                self.request(w.name, "dispatch")
        try:
            while not self.stopping.is_set():
                if self.signalled:
                    log.info("robe run: %s received; finishing", self.signalled)
                    self.request_stop()
                    break
                self.wake.clear()
                mono = time.monotonic()
                now = self.now()
                for c in crons:
                    if now >= c.next_at:
                        self.request(c.entry.wizard, c.entry.job)
                        c.next_at = c.entry.next_after(now)
                if mono - self._last_dirs >= 1.0:
                    self._last_dirs = mono
                    self._check_dirs()
                with self.lock:
                    ready = [k for k, st in self.jobs.items() if st.due is not None and st.due <= mono
                             and st.proc is None and not self._partner_running(k)]
                    ready.sort(key=lambda k: self.jobs[k].due)  # first asked, first run
                    for k in ready:
                        self.jobs[k].due = None
                for k in ready:
                    if self.stopping.is_set():
                        break
                    if self._partner_running(k):  # started a moment ago, in this same batch
                        with self.lock:
                            st = self.jobs[k]
                            st.due = mono if st.due is None else min(st.due, mono)
                        continue
                    self._start(k)
                if until is not None and until(self):
                    met = True
                    break
                if timeout is not None and time.monotonic() - start >= timeout:
                    break
                with self.lock:
                    dues = [st.due for st in self.jobs.values() if st.due is not None and st.proc is None]
                wait = TICK
                if dues:
                    wait = max(0.0, min(wait, min(dues) - time.monotonic()))
                secs = min((c.next_at - self.now()).total_seconds() for c in crons) if crons else TICK
                self.wake.wait(max(0.0, min(wait, secs + 0.01)))
        finally:
            self._shutdown()
        return met

    def _partner_running(self, key) -> bool:
        """Dispatch and monitor of one wizard take turns: both take the wizard's dispatch lock,
        and a dispatch that finds it held leaves the wizard alone until its next run."""
        partner = EXCLUSIVE.get(key[1])
        return partner is not None and self.jobs[(key[0], partner)].proc is not None

    def _running(self) -> list[subprocess.Popen]:
        with self.lock:
            return [st.proc for st in self.jobs.values() if st.proc is not None]

    def _shutdown(self) -> None:
        log.info("robe run: stopping")
        if self.observer is not None:
            self.observer.stop()
        if self.executor is not None:
            self.executor.request_stop()
        end = time.monotonic() + self.options.grace
        while self._running() and time.monotonic() < end:
            time.sleep(0.05)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            left = self._running()
            if not left:
                break
            for p in left:
                log.warning("robe run: stopping job pid %d with %s", p.pid, sig.name)
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass
            end = time.monotonic() + wait
            while self._running() and time.monotonic() < end:
                time.sleep(0.05)
        if self._exec_thread is not None:
            self._exec_thread.join(self.options.exec_shutdown_grace + 15.0)
        if self.observer is not None:
            try:
                self.observer.join(2.0)
            except RuntimeError:
                pass
        log.info("robe run: stopped")


def install_signal_handlers(runner: Runner) -> None:
    def stop(signum, frame):
        # Only a plain assignment: no lock, no logging (see Runner.signalled).
        runner.signalled = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
