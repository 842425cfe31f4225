"""Benchmark the monitor (issue 6): task-monitor folding 1,000 results, robe checkpoint on 10,000.

1. ``task-monitor``: a wizard with 1,000 claims made by the real dispatcher and 1,000 results
   written as the executor writes them (a third of them FAILED or RETRY, so the run also sends
   tasks back to PENDING). Timed as a whole process, from spawn to exit. The rewrites of
   WORK-QUEUE.md are counted from outside: an inotify watch on the house folder counts
   IN_MOVED_TO events named WORK-QUEUE.md (every robe write is a rename over the file).
   Target: under 1 s, exactly one rewrite.
2. ``robe checkpoint``: a house holding 10,000 archived results (``completed/archive``: a
   .txt and a .json each) and their 10,000 archived claims, 30,000 files. Timed as whole
   processes: the first checkpoint (creates the repository, scans every file for secrets,
   stages and commits all of them), a run with 100 new results, and a run where nothing
   changed. Target: under 2 s.

    python bench/monitor_bench.py [--runs 3] [--json out.json]

Children run without PYTHONDONTWRITEBYTECODE after compileall, as bench/queue_bench.py's do.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ROBE_FLEET")}
BIN = os.path.dirname(sys.executable)
IN_MOVED_TO = 0x00000080


class Renames:
    """inotify IN_MOVED_TO on a folder: how many renames landed on one name."""

    def __init__(self, folder: str):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, folder.encode(), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def count(self, name: str) -> int:
        n = 0
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return n
            i = 0
            while i < len(data):
                _wd, _mask, _cookie, size = struct.unpack_from("iIII", data, i)
                got = data[i + 16:i + 16 + size].rstrip(b"\0").decode()
                n += got == name
                i += 16 + size

    def close(self) -> None:
        os.close(self.fd)


def fleet_yaml(root: str, max_active: int) -> str:
    path = os.path.join(root, "fleet.yaml")
    with open(path, "w") as f:
        f.write(f"root: .\nports: {{first: 22000, last: 22099}}\nwizards:\n  ezra:\n    port: 22000\n"
                f"    agent: echo\n    max_active: {max_active}\n")
    return path


def prepare_monitor(root: str, n: int) -> str:
    """A fleet whose wizard holds ``n`` claims, each with a result; the fleet.yaml path."""
    from robe.dispatch import dispatch
    from robe.fleet.config import load_fleet
    from robe.house import House
    from robe.plumbing import atomic_write as write_atomic
    from robe.plumbing import json_bytes

    path = fleet_yaml(root, n)
    house = os.path.join(root, "ezra")
    os.makedirs(house, mode=0o700)
    with open(os.path.join(house, "WORK-QUEUE.md"), "w") as f:
        f.write("# Work queue\n\n## P1\n\n")
        for i in range(1, n + 1):
            if i % 3:
                f.write(f"### TASK-{i:05d}: Summarise the logs of day {i}\n- Status: PENDING\n- Tags: logs\n\n"
                        f"Read the logs of day {i} and write a short summary.\n\n")
            else:
                f.write(f"- [ ] TASK-{i:05d} PENDING Check backup number {i}\n\n")
    rep = dispatch(load_fleet(path), None, gateway=False)
    assert len(rep.claims) == n, rep.to_dict()
    h = House(house, "ezra")
    os.makedirs(h.completed, exist_ok=True)
    for i, c in enumerate(rep.claims):
        status = ("COMPLETE", "COMPLETE", "FAILED", "RETRY")[i % 4]
        write_atomic(h.answer_path(c.id), f"answer to {c.id}\n".encode(), sync=False)
        write_atomic(h.outcome_path(c.id), json_bytes({
            "id": c.id, "wizard": "ezra", "attempt": 1, "status": status, "exit_code": 0 if status == "COMPLETE" else 1,
            "error": None if status == "COMPLETE" else "it broke", "agent": "echo", "started_at": "2026-11-22T06:00:00.000Z",
            "finished_at": "2026-11-22T06:00:01.000Z", "duration_s": 1.0, "truncated": False}), sync=False)
    return path


def bench_monitor(runs: int, n: int) -> dict:
    times, rewrites, transitions = [], [], []
    for r in range(runs + 1):  # the first run warms the page cache and is not counted
        # A fresh house each run (a copy would not do: claims name their queue by absolute path).
        root = tempfile.mkdtemp(prefix="robe-monitor-run-")
        fleet = prepare_monitor(root, n)
        subprocess.run(["sync"])
        watch = Renames(os.path.join(root, "ezra"))
        t0 = time.perf_counter()
        p = subprocess.run([os.path.join(BIN, "task-monitor"), "--fleet", fleet, "--json"], env=ENV,
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        moved = watch.count("WORK-QUEUE.md")
        watch.close()
        if p.returncode != 0:
            raise SystemExit(p.stderr)
        out = json.loads(p.stdout)
        if r:
            times.append(dt)
            rewrites.append(moved)
            transitions.append(len(out["transitions"]))
        left = [x for x in os.listdir(os.path.join(root, "ezra", "completed")) if x != "archive"]
        assert not left, f"results left behind: {left[:3]}"
        shutil.rmtree(root)
    return {"results": n, "runs": runs, "median_s": statistics.median(times), "max_s": max(times),
            "rewrites": sorted(set(rewrites)), "transitions": sorted(set(transitions))}


def prepare_checkpoint(root: str, n: int) -> str:
    path = fleet_yaml(root, 1)
    house = os.path.join(root, "ezra")
    arch_c = os.path.join(house, "completed", "archive")
    arch_w = os.path.join(house, "work", "archive")
    os.makedirs(arch_c, mode=0o700)
    os.makedirs(arch_w, mode=0o700)
    with open(os.path.join(house, "WORK-QUEUE.md"), "w") as f:
        f.write("# Work queue\n\n" + "".join(f"- [x] TASK-{i:05d} COMPLETE Task {i}\n" for i in range(1, n + 1)))
    for i in range(1, n + 1):
        tid = f"TASK-{i:05d}"
        with open(os.path.join(arch_c, f"{tid}.1.txt"), "w") as f:
            f.write(f"The answer to {tid}: a few lines of text,\nas an agent writes them.\n")
        with open(os.path.join(arch_c, f"{tid}.1.json"), "w") as f:
            json.dump({"id": tid, "wizard": "ezra", "attempt": 1, "status": "COMPLETE", "exit_code": 0,
                       "error": None, "agent": "echo", "duration_s": 1.0}, f)
        with open(os.path.join(arch_w, f"{tid}.1.active"), "w") as f:
            json.dump({"id": tid, "title": f"Task {i}", "priority": "P2", "prompt": f"{tid}: Task {i}",
                       "wizard": "ezra", "attempt": 1, "lease_s": 600}, f)
    return path


def bench_checkpoint(runs: int, n: int) -> dict:
    first, incremental, nochange = [], [], []
    cmd = [os.path.join(BIN, "robe"), "checkpoint"]
    env = dict(ENV, GIT_CONFIG_NOSYSTEM="1")
    for r in range(runs + 1):
        root = tempfile.mkdtemp(prefix="robe-checkpoint-bench-")
        fleet = prepare_checkpoint(root, n)
        subprocess.run(["sync"])

        def timed() -> float:
            t0 = time.perf_counter()
            p = subprocess.run(cmd + ["--fleet", fleet], env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise SystemExit(p.stderr)
            return dt

        a = timed()
        arch = os.path.join(root, "ezra", "completed", "archive")
        for i in range(n + 1, n + 101):
            with open(os.path.join(arch, f"TASK-{i:05d}.1.txt"), "w") as f:
                f.write("new\n")
        b = timed()
        c = timed()
        if r:
            first.append(a)
            incremental.append(b)
            nochange.append(c)
        shutil.rmtree(root)
    return {"archived_results": n, "files": 3 * n, "runs": runs, "first_median_s": statistics.median(first),
            "first_max_s": max(first), "incremental_median_s": statistics.median(incremental),
            "nochange_median_s": statistics.median(nochange)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--results", type=int, default=1000)
    ap.add_argument("--archived", type=int, default=10000)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    import robe

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(robe.__file__)], env=ENV, check=True)
    m = bench_monitor(args.runs, args.results)
    print(f"task-monitor, {m['results']} results: median {m['median_s'] * 1000:.0f} ms, max {m['max_s'] * 1000:.0f} ms "
          f"(target < 1000 ms); rewrites of WORK-QUEUE.md per run: {m['rewrites']} (target [1]); "
          f"transitions {m['transitions']}")
    c = bench_checkpoint(args.runs, args.archived)
    print(f"robe checkpoint, {c['archived_results']} archived results ({c['files']} files): first commit median "
          f"{c['first_median_s'] * 1000:.0f} ms (max {c['first_max_s'] * 1000:.0f} ms, target < 2000 ms); "
          f"100 new results {c['incremental_median_s'] * 1000:.0f} ms; nothing changed "
          f"{c['nochange_median_s'] * 1000:.0f} ms")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"monitor": m, "checkpoint": c}, f, indent=2)
    ok = m["median_s"] < 1.0 and m["rewrites"] == [1] and c["first_median_s"] < 2.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
