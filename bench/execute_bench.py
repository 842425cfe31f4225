"""Benchmark the executor (issue 5): how soon an agent starts after its claim appears, and
how much memory an idle executor holds.

Method. A throwaway fleet of one wizard whose agent is the command ``true`` (a private copy
of the system's ``true``, so nothing else opens it). ``robe execute`` runs as a separate
process, exactly as a user starts it (children run without PYTHONDONTWRITEBYTECODE, as in
queue_bench.py). The bench holds an inotify watch (IN_OPEN) on that copy of ``true``: the
kernel reports the open that ``execve`` does, i.e. the moment the agent process starts. For
each of N claims, one at a time against an idle executor:

    t0 = monotonic clock, just before os.link(tmp, work/<ID>.active)   (the dispatcher's claim)
    t1 = monotonic clock when the bench's blocking read of the inotify fd returns
    latency = t1 - t0

then the bench waits for completed/<ID>.json before the next claim. The same clock is used
for both ends, in the same process; the read-wake-up of the bench itself is included, so the
figures are an upper bound. "spawn floor" is the same measurement for a bare
``subprocess.Popen(["true"])`` from this process: the part no executor can avoid.

Idle RSS is VmRSS of the executor process from /proc, after start-up (nothing run yet) and
again after the N claims and a quiet second.

    python bench/execute_bench.py [--triggers 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

TARGETS = {"p50_ms": 20.0, "p99_ms": 100.0, "idle_rss_mib": 50.0}
IN_OPEN = 0x20


class ExecWatch:
    """inotify IN_OPEN on one file: one event per execve of it."""

    def __init__(self, path: str):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, path.encode(), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")

    def wait(self, timeout: float) -> int | None:
        """Monotonic ns of the next open, or None on timeout."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        t = time.monotonic_ns()
        if not r:
            return None
        data = os.read(self.fd, 65536)
        n = 0
        off = 0
        while off < len(data):
            _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, off)
            off += 16 + length
            n += 1
        if n != 1:
            raise RuntimeError(f"{n} opens of the agent binary at once; the measurement is ambiguous")
        return t

    def drain(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            os.read(self.fd, 65536)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def robe_bin() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "robe")
    return here if os.path.exists(here) else (shutil.which("robe") or "robe")


def make_fleet(root: str, agent_bin: str):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    from robe.fleet.config import load_fleet
    from robe.fleet.homes import ensure_house

    path = os.path.join(root, "fleet.yaml")
    with open(path, "w") as f:
        json.dump({"root": ".", "ports": {"first": 20000, "last": 20010},
                   "wizards": {"bench": {"port": 20001, "agent": {"kind": "command", "argv": [agent_bin]}}}}, f)
    fleet = load_fleet(path)
    w = fleet.wizard("bench")
    ensure_house(fleet, w)
    return path, w


def claim(w, task_id: str) -> int:
    """Write the claim the way the dispatcher does; the monotonic ns just before it appears."""
    work = os.path.join(w.house, "work")
    data = json.dumps({"id": task_id, "title": "bench", "priority": "P2", "body": "", "prompt": f"{task_id}: bench",
                       "wizard": w.name, "attempt": 1, "claimed_at": "2026-11-23T10:00:00.000Z",
                       "claimed_by": "bench:0", "lease_s": 600}).encode()
    tmp = os.path.join(work, f".{task_id}.active.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    t0 = time.monotonic_ns()
    os.link(tmp, os.path.join(work, f"{task_id}.active"))
    os.unlink(tmp)
    return t0


def wait_file(path: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise RuntimeError(f"{path} did not appear in {timeout} s")
        time.sleep(0.0005)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--triggers", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="robe-exec-bench-")
    proc = None
    try:
        agent = os.path.join(root, "true")
        shutil.copy2(shutil.which("true") or "/bin/true", agent)
        watch = ExecWatch(agent)

        floor = []
        for _ in range(50):
            t0 = time.monotonic_ns()
            p = subprocess.Popen([agent])
            t1 = watch.wait(5)
            p.wait()
            floor.append((t1 - t0) / 1e6)

        fleet_path, w = make_fleet(root, agent)
        proc = subprocess.Popen([robe_bin(), "execute", "--fleet", fleet_path, "-q"], env=child_env(),
                                stdin=subprocess.DEVNULL)
        wait_file(os.path.join(w.house, "logs", "executor.json"), 30)
        time.sleep(1.0)
        rss_start = rss_mib(proc.pid)

        lat = []
        done = os.path.join(w.house, "completed")
        for i in range(args.warmup + args.triggers):
            task_id = f"BENCH-{i + 1}"
            t0 = claim(w, task_id)
            t1 = watch.wait(5)
            if t1 is None:
                raise RuntimeError(f"the agent for {task_id} did not start within 5 s")
            wait_file(os.path.join(done, f"{task_id}.json"))
            if i >= args.warmup:
                lat.append((t1 - t0) / 1e6)
            time.sleep(0.01)  # let the executor go idle again
        time.sleep(1.0)
        rss_idle = rss_mib(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)

    res = {
        "triggers": len(lat),
        "p50_ms": round(statistics.median(lat), 2),
        "p90_ms": round(pct(lat, 90), 2),
        "p99_ms": round(pct(lat, 99), 2),
        "max_ms": round(max(lat), 2),
        "spawn_floor_p50_ms": round(statistics.median(floor), 2),
        "idle_rss_start_mib": round(rss_start, 1),
        "idle_rss_after_mib": round(rss_idle, 1),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    ok = (res["p50_ms"] < TARGETS["p50_ms"] and res["p99_ms"] < TARGETS["p99_ms"]
          and max(res["idle_rss_start_mib"], res["idle_rss_after_mib"]) < TARGETS["idle_rss_mib"])
    print(f"trigger -> agent start over {res['triggers']} claims: p50 {res['p50_ms']} ms, p90 {res['p90_ms']} ms, "
          f"p99 {res['p99_ms']} ms, max {res['max_ms']} ms (targets: p50 < 20, p99 < 100)")
    print(f"spawn floor (Popen of the same binary from the bench): p50 {res['spawn_floor_p50_ms']} ms")
    print(f"executor idle RSS: {res['idle_rss_start_mib']} MiB at start, {res['idle_rss_after_mib']} MiB after "
          f"the run (target < 50 MiB)")
    print("targets met" if ok else "TARGETS MISSED")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
