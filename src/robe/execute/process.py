"""Running an agent process: its own process group, a deadline, capped output.

The agent starts in a new session (so its children share its process group and nothing of
the executor's); at the deadline, or when the executor is told to stop, the whole group gets
SIGTERM, a grace period, then SIGKILL. A group member still alive when the agent itself has
exited is killed too: nothing an agent forks outlives its run. Output beyond the cap is read
and thrown away, so an agent printing without end neither blocks nor fills the memory.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

STDERR_CAP = 64 * 1024
#: seconds between SIGTERM and SIGKILL for a cancelled agent
CANCEL_KILL_S = 1.0


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    #: bytes of stdout thrown away past the cap
    dropped: int = 0
    timed_out: bool = False
    #: stopped because the executor is shutting down
    cancelled: bool = False
    #: could not start (e.g. command not found): a sentence
    start_error: str | None = None
    #: stopped because ``watch`` said so: its sentence
    stopped: str | None = None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(pid: int) -> bool:
    """Has ``pid`` exited? Leaves it a zombie (WNOWAIT), so its pid, which is also the
    process group's id, cannot be reused while we may still signal the group."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _spawn(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen | ProcessResult:
    """The agent in a process group of its own, or a ProcessResult saying why it did not start."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, env=env, start_new_session=True, close_fds=True)
    except FileNotFoundError:
        why = "was not found; install it or fix the wizard's agent in fleet.yaml"
    except PermissionError:
        why = "is not executable"
    except OSError as e:
        why = f"could not start: {e.strerror}"
    return ProcessResult(None, b"", b"", start_error=f"the agent command {argv[0]!r} {why}")


def _read_ready(sel, streams: dict, wait: float, out: bytearray, err: bytearray, cap: int) -> int:
    """Read what the pipes hold within ``wait`` seconds (stdout up to ``cap``, stderr up to
    STDERR_CAP); a pipe at EOF is dropped from ``streams``. The stdout bytes cut by the cap."""
    dropped = 0
    for key, _ in sel.select(timeout=wait):
        fd = key.fd
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        if not chunk:
            sel.unregister(fd)
            del streams[fd]
        elif streams[fd] == "out":
            room = cap - len(out)
            if room > 0:
                out += chunk[:room]
            dropped += max(len(chunk) - max(room, 0), 0)
        elif len(err) < STDERR_CAP:
            err += chunk[:STDERR_CAP - len(err)]
    return dropped


def run_process(argv: list[str], *, env: dict[str, str], cwd: str, timeout: float, cap: int,
                grace: float = 5.0, cancel: threading.Event | None = None,
                on_start: Callable[[int], None] | None = None,
                watch: Callable[[], str | None] | None = None, watch_every: float = 0.5) -> ProcessResult:
    """Run the agent to its end, its deadline, a cancel, or until ``watch`` (asked every
    ``watch_every`` seconds while it runs) gives a reason to stop it."""
    proc = _spawn(argv, env, cwd)
    if isinstance(proc, ProcessResult):
        return proc
    pid = pgid = proc.pid
    if on_start is not None:
        try:
            on_start(pid)
        except Exception:  # a heartbeat hiccup must not orphan the agent
            pass
    out, err = bytearray(), bytearray()
    dropped = 0
    timed_out = cancelled = False
    deadline = time.monotonic() + timeout
    kill_at: float | None = None  # SIGKILL time once SIGTERM was sent
    leader_done = False
    stopped: str | None = None
    next_watch = time.monotonic() + watch_every
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    for fd in streams:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    try:
        nap = 0.0005
        drain_until = float("inf")
        while True:
            now = time.monotonic()
            if not leader_done and _exited(pid):
                leader_done = True
                # Whatever the agent left behind in its group dies now; that also closes the
                # pipes they held, so the reads below reach EOF.
                _killpg(pgid, signal.SIGKILL)
                drain_until = now + 2.0  # a descendant that left the group keeps no one waiting
            if leader_done and (not streams or now >= drain_until):
                break
            if watch is not None and not leader_done and kill_at is None and now >= next_watch:
                next_watch = now + watch_every
                stopped = _ask(watch)
                if stopped:
                    _killpg(pgid, signal.SIGTERM)
                    kill_at = now + grace
            if not leader_done:
                if kill_at is None and (now >= deadline or (cancel is not None and cancel.is_set())):
                    timed_out = now >= deadline
                    cancelled = not timed_out
                    _killpg(pgid, signal.SIGTERM)
                    # a cancelled agent (by a person, or after the shutdown's own grace) is
                    # stopped within CANCEL_KILL_S: the person is waiting for it
                    kill_at = now + (min(grace, CANCEL_KILL_S) if cancelled else grace)
                elif kill_at is not None and now >= kill_at:
                    _killpg(pgid, signal.SIGKILL)
                    kill_at = float("inf")
            if not streams:
                # Both pipes closed: the agent is exiting; look again soon, then less often.
                time.sleep(nap)
                nap = min(nap * 2, 0.05)
                continue
            wait = 0.1 if kill_at is not None or leader_done else min(0.1, max(deadline - now, 0.0) + 0.001)
            dropped += _read_ready(sel, streams, wait, out, err, cap)
    finally:
        sel.close()
        if not leader_done:
            _killpg(pgid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
        proc.wait()
    return ProcessResult(proc.returncode, bytes(out), bytes(err), dropped, timed_out, cancelled, stopped=stopped)


def _ask(watch: Callable[[], str | None]) -> str | None:
    try:
        return watch()
    except Exception:  # a watcher's hiccup (a half-written file) must not stop the agent
        return None
