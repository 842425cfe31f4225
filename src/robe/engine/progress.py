"""What robe run tells the person watching it.

- One line per transition (a claim, a result folded, a retry, a reap), through logging.
- Each problem once: a queue error (file:line, what, hint) or a broken fleet.yaml is printed
  when it appears, not on every pass, and again only if it goes away and comes back. The
  problems standing now are in ``<fleet root>/logs/run.json`` for ``robe status``.
- With ``progress`` on, a status line at the bottom of the terminal, redrawn twice a second:
  per wizard running / queued / done / failed, and tasks finished per second over the last
  ten seconds. Log lines are printed above it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import deque

from ..clock import stamp
from ..plumbing import atomic_write

log = logging.getLogger("robe.run")
REDRAW_S = 0.5
RATE_WINDOW_S = 10.0


def run_file(fleet) -> str:
    """``<fleet root>/logs/run.json``: robe run's pid and the problems standing now."""
    return os.path.join(fleet.root, "logs", "run.json")


def read_run_file(fleet) -> dict | None:
    """robe run's record, when a robe run that is still alive wrote it (None otherwise)."""
    try:
        with open(run_file(fleet), encoding="utf-8") as f:
            data = json.load(f)
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's
        pass
    except OSError:
        return None
    return data


class Progress:
    def __init__(self, fleet, names: list[str], *, line: bool = False, stream=None):
        self.fleet = fleet
        self.names = names
        self.line = line
        self.stream = stream or sys.stderr
        self.done = {n: 0 for n in names}
        self.failed = {n: 0 for n in names}
        self.finished: deque = deque()
        self.problems: dict[str, list[str]] = {}  # source -> problems standing
        self._told: set[str] = set()
        self._lock = threading.Lock()
        self._shown = False
        self._last_draw = 0.0
        self.started = time.monotonic()

    # -- transitions and problems
    def transition(self, text: str) -> None:
        log.info("%s", text)

    def result(self, wizard: str, status: str) -> None:
        with self._lock:
            if status == "COMPLETE":
                self.done[wizard] = self.done.get(wizard, 0) + 1
            elif status == "FAILED":
                self.failed[wizard] = self.failed.get(wizard, 0) + 1
            self.finished.append(time.monotonic())

    def set_problems(self, source: str, problems: list[str]) -> None:
        """The problems ``source`` (a queue file, "fleet.yaml") has now; new ones are printed."""
        with self._lock:
            before = self.problems.get(source, [])
            if problems == before:
                return
            if problems:
                self.problems[source] = problems
            else:
                self.problems.pop(source, None)
            # a problem is told by its first line (file:line: what); its hint may change
            # from one save to the next (the next free ID) without being a new problem
            new = [p for p in problems if _key(p) not in self._told]
            self._told = {_key(p) for ps in self.problems.values() for p in ps}
        for p in new:
            log.error("%s", p)
        self._write_run_file()

    def _write_run_file(self) -> None:
        with self._lock:
            errors = [p for ps in self.problems.values() for p in ps]
        data = {"pid": os.getpid(), "updated_at": stamp(), "wizards": self.names, "errors": errors}
        path = run_file(self.fleet)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            atomic_write(path, (json.dumps(data, indent=2) + "\n").encode(), sync=False)
        except OSError as e:
            log.warning("cannot write %s: %s", path, e.strerror or e)

    def start(self) -> None:
        self._write_run_file()

    def close(self) -> None:
        self.clear_line()
        try:
            os.unlink(run_file(self.fleet))
        except OSError:
            pass

    # -- the status line
    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self.finished and self.finished[0] < now - RATE_WINDOW_S:
                self.finished.popleft()
            n = len(self.finished)
        return n / min(RATE_WINDOW_S, max(now - self.started, 1e-3))

    def status_text(self, running: dict[str, int], queued: dict[str, int]) -> str:
        parts = []
        for n in self.names:
            parts.append(f"{n} {running.get(n, 0)} run {queued.get(n, 0)} queued {self.done.get(n, 0)} done"
                         + (f" {self.failed[n]} failed" if self.failed.get(n) else ""))
        return f"{self.rate():.1f} tasks/s | " + " | ".join(parts)

    def draw(self, running: dict[str, int], queued: dict[str, int], force: bool = False) -> None:
        if not self.line:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_S:
            return
        self._last_draw = now
        text = self.status_text(running, queued)
        width = _width(self.stream)
        self.stream.write("\r\x1b[K" + text[: width - 1])
        self.stream.flush()
        self._shown = True

    def clear_line(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def handler(self, fmt: logging.Formatter) -> logging.Handler:
        """A handler for the terminal that prints log lines above the status line."""
        progress = self

        class AboveTheLine(logging.StreamHandler):
            def emit(self, record):
                progress.clear_line()
                super().emit(record)
                progress._last_draw = 0.0  # redrawn on the next pass

        h = AboveTheLine(self.stream)
        h.setFormatter(fmt)
        return h


def _key(problem: str) -> str:
    return problem.split("\n", 1)[0]


def _width(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 160
