"""The scheduled jobs robe run leaves to child processes (report, checkpoint, self-monitor),
the locks it shares with cron, and its options.

Each child is the process cron would run (``robe report --wizard W``, ...), started under the
same ``logs/cron-<job>.lock`` the crontab line takes with ``flock -n``; the child inherits the
lock and holds it until it exits. A job never runs twice at once for one wizard, whoever
started it, and a crash in a job cannot take robe run down. Children's output is appended to
the wizard's ``logs/cron.log``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ..cron.crontab import cron_log, lock_file
from ..cron.schedule import job_args, robe_command

log = logging.getLogger("robe.run")
#: seconds before a job whose lock is held elsewhere (cron) is tried again
BUSY_RETRY = 1.0
#: the jobs robe run does itself, in its loop (the others are children)
INLINE = ("dispatch", "monitor")


@dataclass
class Options:
    #: seconds between a person's save and the dispatch it asks for (a burst gives one)
    debounce: float = 0.0
    #: seconds running jobs and agents may finish after a stop was asked for
    grace: float = 10.0
    #: run the executors in this process
    execute: bool = True
    #: react to file events (False: the clock only)
    react: bool = True
    #: dispatch and monitor every wizard once at start
    kick: bool = True
    exec_scan_interval: float = 2.0
    exec_shutdown_grace: float = 10.0
    #: the status line on stderr (robe run turns it on when stderr is a terminal)
    progress: bool = False
    extra_env: dict = field(default_factory=dict)


def hold_lock(house: str, job: str) -> int | None:
    """Take ``logs/cron-<job>.lock`` of a house without waiting: its descriptor, or None while
    another process (cron's ``flock -n``) holds it."""
    fd = os.open(lock_file(house, job), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class Job:
    proc: subprocess.Popen | None = None
    #: monotonic time at which the job should start (None: not asked for)
    due: float | None = None
    runs: int = 0
    last_exit: int | None = None
    started_at: float = 0.0


def ask(st: Job | None, delay: float, lock: threading.Lock, wake: threading.Event) -> None:
    """Ask for a job in ``delay`` seconds: an earlier ask stands (thread-safe; coalesced)."""
    if st is None:
        return
    t = time.monotonic() + delay
    with lock:
        st.due = t if st.due is None else min(st.due, t)
    wake.set()


class Children:
    """The child jobs of robe run, by (wizard, job)."""

    def __init__(self, fleet, wizards, jobs, *, extra_env: dict, note, wake: threading.Event):
        self.fleet = fleet
        self.by_name = {w.name: w for w in wizards}
        self.jobs = {(w.name, j): Job() for w in wizards for j in jobs}
        self.extra_env = extra_env
        self.note = note
        self.wake = wake
        self.lock = threading.Lock()

    def request(self, wizard: str, job: str, delay: float = 0.0) -> None:
        ask(self.jobs.get((wizard, job)), delay, self.lock, self.wake)

    def next_due(self) -> float | None:
        with self.lock:
            dues = [st.due for st in self.jobs.values() if st.due is not None and st.proc is None]
        return min(dues) if dues else None

    def idle(self) -> bool:
        with self.lock:
            return all(st.proc is None and st.due is None for st in self.jobs.values())

    def start_due(self, stopping: threading.Event) -> None:
        mono = time.monotonic()
        with self.lock:
            ready = sorted((k for k, st in self.jobs.items() if st.due is not None and st.due <= mono
                            and st.proc is None), key=lambda k: self.jobs[k].due)
            for k in ready:
                self.jobs[k].due = None
        for k in ready:
            if stopping.is_set():
                break
            self._start(k)

    def _start(self, key: tuple[str, str]) -> None:
        name, job = key
        w = self.by_name[name]
        st = self.jobs[key]
        os.makedirs(w.logs_dir, mode=0o700, exist_ok=True)
        lock_fd = hold_lock(w.house, job)
        if lock_fd is None:
            with self.lock:
                st.due = time.monotonic() + BUSY_RETRY
            self.note(name, logging.DEBUG, "%s is running elsewhere (cron?); trying again in %g s", job, BUSY_RETRY)
            return
        argv = robe_command() + list(job_args(self.fleet, w, job))
        env = dict(os.environ, ROBE_FLEET=self.fleet.path, **self.extra_env)
        out_fd = os.open(cron_log(w.house), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            # Its own session: a Ctrl-C in the terminal reaches only robe run, which stops
            # children in order.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_fd, stderr=out_fd, cwd=w.house,
                                    env=env, start_new_session=True, pass_fds=(lock_fd,))
        except OSError as e:
            self.note(name, logging.ERROR, "cannot start %s: %s", job, e.strerror or e)
            return
        finally:
            os.close(lock_fd)
            os.close(out_fd)
        with self.lock:
            st.proc, st.started_at = proc, time.monotonic()
            st.runs += 1
        self.note(name, logging.DEBUG, "%s started (pid %d)", job, proc.pid)
        threading.Thread(target=self._reap, args=(key, proc), name=f"robe-run wait {name} {job}", daemon=True).start()

    def _reap(self, key, proc: subprocess.Popen) -> None:
        code = proc.wait()
        name, job = key
        with self.lock:
            st = self.jobs[key]
            took = time.monotonic() - st.started_at
            st.proc, st.last_exit = None, code
        if code:
            self.note(name, logging.WARNING, "%s exited %d after %.1f s (see %s)", job, code, took,
                      cron_log(self.by_name[name].house))
        else:
            self.note(name, logging.DEBUG, "%s done in %.2f s", job, took)
        self.wake.set()

    def running(self) -> list[subprocess.Popen]:
        with self.lock:
            return [st.proc for st in self.jobs.values() if st.proc is not None]

    def stop(self, grace: float) -> None:
        """Let running jobs finish within ``grace`` seconds, then SIGTERM and SIGKILL them."""
        end = time.monotonic() + grace
        while self.running() and time.monotonic() < end:
            time.sleep(0.05)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            left = self.running()
            if not left:
                break
            for p in left:
                log.warning("robe run: stopping job pid %d with %s", p.pid, sig.name)
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass
            end = time.monotonic() + wait
            while self.running() and time.monotonic() < end:
                time.sleep(0.05)
