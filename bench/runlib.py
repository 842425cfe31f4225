"""Shared pieces of run_bench.py and kill_run.py: throwaway fleets, robe run as a real
process, /proc readings, an inotify wait, and saving a queue file the way an editor does."""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import time

# Measure what users run: the installed package with its bytecode cache (see queue_bench.py).
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ROBE_FLEET")}
BIN = os.path.dirname(sys.executable)
ROBE = os.path.join(BIN, "robe")
CLK_TCK = os.sysconf("SC_CLK_TCK")

IN_CLOSE_WRITE = 0x08
IN_MOVED_TO = 0x80
IN_CREATE = 0x100


def write_fleet(folder: str, names: list[str], *, agent: dict | None = None, queue: str | None = None,
                top: dict | None = None, **settings) -> str:
    """fleet.yaml (JSON is YAML) of echo wizards without gateways, houses built by ``robe init``;
    each wizard's WORK-QUEUE.md starts as a heading only. ``queue``: one file all wizards read."""
    doc = {"root": ".", "ports": {"first": 20000, "last": 29999}, **(top or {}), "wizards": {}}
    for i, n in enumerate(names):
        entry = {"port": 20000 + i, "agent": agent or {"kind": "echo"}, "gateway": None, **settings}
        if queue:
            entry["queue"] = queue
        doc["wizards"][n] = entry
    path = os.path.join(folder, "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    r = subprocess.run([ROBE, "init", folder], env=ENV, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"robe init failed: {r.stderr}")
    for q in ({queue} if queue else {os.path.join(folder, n, "WORK-QUEUE.md") for n in names}):
        with open(q, "w") as f:
            f.write("# Queue\n\n")
        backdate(q)
    return path


def backdate(path: str, seconds: float = 3600.0) -> None:
    """Date the file's last change ``seconds`` back: a queue saved long ago, which robe reads at
    once (a file changed less than QUIET_S = 2 s ago may still be being saved, and is read only
    once it has been quiet that long)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def start_run(fleet: str, folder: str, first_house: str, *, wait: bool = True, log_name: str = "run.err",
              extra: tuple = ()) -> subprocess.Popen:
    """``robe run`` as a user starts it; with ``wait``, until its executors are up and its first
    passes are done (logs/executor.json of the first wizard, then 0.5 s)."""
    marker = os.path.join(first_house, "logs", "executor.json")
    before = os.stat(marker).st_mtime_ns if os.path.exists(marker) else None
    log = open(os.path.join(folder, log_name), "ab")
    p = subprocess.Popen([ROBE, "run", "--fleet", fleet, "-q", *extra], env=ENV, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, cwd=folder)
    log.close()
    if wait:
        end = time.monotonic() + 120
        while True:
            try:
                if os.stat(marker).st_mtime_ns != before:
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > end or p.poll() is not None:
                raise SystemExit(f"robe run did not start; see {folder}/{log_name}")
            time.sleep(0.02)
        time.sleep(0.5)
    return p


def stop_run(p: subprocess.Popen, timeout: float = 60) -> None:
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cpu_s(pid: int) -> tuple[float, float]:
    """(utime+stime of the process itself, cutime+cstime of its waited-for children), seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rfind(b")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st) / CLK_TCK, (cut + cst) / CLK_TCK


def mem_mib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


class Inotify:
    """Wake when files are closed after writing or renamed into the watched folders."""

    def __init__(self, folders, mask=IN_CLOSE_WRITE | IN_MOVED_TO):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for d in folders:
            if self.libc.inotify_add_watch(self.fd, os.fsencode(d), mask) < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")

    def wait(self, timeout: float) -> list[bytes]:
        """Names of the events that arrived within ``timeout`` (none: timed out)."""
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        names = []
        if r:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            i = 0
            while i + 16 <= len(data):
                _wd, _mask, _cookie, ln = struct.unpack_from("iIII", data, i)
                names.append(data[i + 16:i + 16 + ln].rstrip(b"\0"))
                i += 16 + ln
        return names

    def close(self):
        os.close(self.fd)


def tail(path: str, n: int = 65536) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - n))
        return f.read()


def save(path: str, text: str, how: str) -> None:
    """Write the whole file as an editor saves: in place (truncate, write, close) or a temp
    file renamed over it."""
    if how == "inplace":
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.swp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(tmp, path)


def append(path: str, text: str, how: str = "append") -> None:
    """Add ``text`` at the end of the file: ``append`` (open for appending, write, close: one
    IN_CLOSE_WRITE) or ``rename`` (read, write a temp copy with the text added, rename it over)."""
    if how == "append":
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    else:
        with open(path, encoding="utf-8") as f:
            old = f.read()
        save(path, old + text, "rename")


def epoch(stamp: str) -> float:
    return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def events(house: str) -> list[dict]:
    out = []
    try:
        with open(os.path.join(house, "logs", "events.jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summary(values: list[float], scale: float = 1000.0) -> dict:
    """p50, p99, min, max (in ms by default) of ``values`` in seconds."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(pct(values, 0.5) * scale, 1), "p99": round(pct(values, 0.99) * scale, 1),
            "min": round(min(values) * scale, 1), "max": round(max(values) * scale, 1)}


def stray_processes(folder: str) -> list[int]:
    """Processes whose command line names ``folder``: what the fleet's robe runs left behind
    (e.g. ``robe execute`` daemons a self-monitor job started, detached in their own session)."""
    key = os.fsencode(folder)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if key in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


def end_strays(folder: str) -> list[str]:
    """SIGTERM (then SIGKILL) every process :func:`stray_processes` finds; their command lines."""
    found = []
    for pid in stray_processes(folder):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append(f.read().replace(b"\0", b" ").decode(errors="replace").strip())
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + 5
    while stray_processes(folder) and time.monotonic() < end:
        time.sleep(0.1)
    for pid in stray_processes(folder):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return found


def count_complete(queues: list[str]) -> int:
    """Tasks COMPLETE in these queue files (the bench's task lines: ``... RUN-n COMPLETE ...``)."""
    n = 0
    for q in queues:
        with open(q, "rb") as f:
            n += f.read().count(b" COMPLETE ")
    return n
