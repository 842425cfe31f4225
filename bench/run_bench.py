"""Benchmark robe run (issue 7): from a person saving a task to WORK-QUEUE.md until the file
says COMPLETE; throughput; memory of an idle fleet.

Method. Throwaway fleets of echo wizards, no gateways. ``robe run`` runs as a separate
process exactly as a user starts it, and its jobs (robe dispatch, robe monitor) are its own
child processes; all of them run without PYTHONDONTWRITEBYTECODE after compileall, as an
installed package would (as in queue_bench.py).

- Latency, one wizard, N tasks one at a time against an idle ``robe run``:

      t0 = monotonic clock just before the bench appends "- [ ] TASK-n PENDING ..." to the queue
      t1 = monotonic clock when the bench, reading the file every 2 ms, sees "[x] TASK-n COMPLETE"

  The path measured: inotify -> debounce (50 ms) -> ``robe dispatch`` child (claim, IN_PROGRESS)
  -> the in-process executor runs the echo agent -> completed/ -> inotify -> debounce ->
  ``robe monitor`` child (COMPLETE). The bench waits 0.3 s between tasks.
- Throughput: 3 wizards with a queue each; 100 tasks per queue written in one save; tasks per
  second from the save to the last COMPLETE, once with max_active 1 (the default: one live
  claim per wizard, so each task waits for the monitor before the next dispatch) and once
  with max_active 25.
- Idle RSS: 10 wizards, ``robe run`` after start-up and its first dispatch and monitor of
  every wizard, then 3 quiet seconds: VmRSS of robe run plus every live descendant, from /proc.

    python bench/run_bench.py [--tasks 50] [--throughput 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS = {"p50_s": 1.0, "idle_rss_mib": 100.0}
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ROBE = os.path.join(os.path.dirname(sys.executable), "robe")


def write_fleet(folder: str, names: list[str], **settings) -> str:
    doc = {"root": ".", "ports": {"first": 20000, "last": 20999}, "wizards": {}}
    for i, n in enumerate(names):
        doc["wizards"][n] = {"port": 20000 + i, "agent": {"kind": "echo"}, "gateway": None, **settings}
    path = os.path.join(folder, "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    r = subprocess.run([ROBE, "init", folder], env=ENV, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    for n in names:
        with open(os.path.join(folder, n, "WORK-QUEUE.md"), "w") as f:
            f.write("# Queue\n\n")
    return path


def start_run(fleet: str, names: list[str], folder: str) -> subprocess.Popen:
    log = open(os.path.join(folder, "run.err"), "wb")
    p = subprocess.Popen([ROBE, "run", "--fleet", fleet, "-q"], env=ENV, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=log, cwd=folder)
    log.close()
    end = time.monotonic() + 30
    while not all(os.path.exists(os.path.join(folder, n, "logs", "executor.json")) for n in names):
        if time.monotonic() > end or p.poll() is not None:
            raise SystemExit(f"robe run did not start; see {folder}/run.err")
        time.sleep(0.05)
    time.sleep(1.0)  # the first dispatch and monitor of every wizard
    return p


def stop_run(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def task_line(n: int) -> str:
    return f"- [ ] TASK-{n} PENDING Benchmark task {n}\n"


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def latency(n: int) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        fleet = write_fleet(folder, ["ezra"])
        queue = os.path.join(folder, "ezra", "WORK-QUEUE.md")
        p = start_run(fleet, ["ezra"], folder)
        times = []
        try:
            for i in range(1, n + 1):
                done = f"[x] TASK-{i} COMPLETE"
                t0 = time.monotonic()
                with open(queue, "a", encoding="utf-8") as f:
                    f.write(task_line(i))
                while done not in read(queue):
                    if time.monotonic() - t0 > 30:
                        raise SystemExit(f"TASK-{i} not COMPLETE after 30 s; see {folder}")
                    time.sleep(0.002)
                times.append(time.monotonic() - t0)
                time.sleep(0.3)
        finally:
            stop_run(p)
        times.sort()
        return {"tasks": n, "p50_s": round(statistics.median(times), 3),
                "p99_s": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
                "min_s": round(times[0], 3), "max_s": round(times[-1], 3)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def throughput(total: int, max_active: int) -> dict:
    names = ["ezra", "allegro", "allegro-primus"]
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        fleet = write_fleet(folder, names, max_active=max_active)
        p = start_run(fleet, names, folder)
        per = total // len(names)
        try:
            t0 = time.monotonic()
            for w in names:
                with open(os.path.join(folder, w, "WORK-QUEUE.md"), "a", encoding="utf-8") as f:
                    f.write("".join(task_line(i) for i in range(1, per + 1)))
            pattern = re.compile(r"\[x\] TASK-\d+ COMPLETE")
            while True:
                done = sum(len(pattern.findall(read(os.path.join(folder, w, "WORK-QUEUE.md")))) for w in names)
                if done >= per * len(names):
                    break
                if time.monotonic() - t0 > 600:
                    raise SystemExit(f"only {done} of {per * len(names)} COMPLETE after 600 s; see {folder}")
                time.sleep(0.02)
            took = time.monotonic() - t0
        finally:
            stop_run(p)
        return {"wizards": len(names), "tasks": per * len(names), "max_active": max_active,
                "seconds": round(took, 2), "tasks_per_s": round(per * len(names) / took, 1)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                data = f.read()
            ppid = int(data[data.rfind(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def idle_rss(wizards: int) -> dict:
    names = [f"wizard-{i}" for i in range(wizards)]
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        fleet = write_fleet(folder, names)
        p = start_run(fleet, names, folder)
        try:
            time.sleep(3.0)
            tree = descendants(p.pid)
            total = sum(rss_mib(x) for x in tree)
            own = rss_mib(p.pid)
        finally:
            stop_run(p)
        return {"wizards": wizards, "rss_mib": round(own, 1), "processes": len(tree),
                "total_rss_mib": round(total, 1)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--throughput", type=int, default=300)
    ap.add_argument("--wizards", type=int, default=10)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    import robe

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(robe.__file__)], env=ENV, check=True)
    results = {"latency": latency(a.tasks)}
    lat = results["latency"]
    print(f"save -> COMPLETE, {lat['tasks']} tasks: p50 {lat['p50_s']:.3f} s, p99 {lat['p99_s']:.3f} s "
          f"(min {lat['min_s']:.3f}, max {lat['max_s']:.3f}; target p50 < {TARGETS['p50_s']} s)")
    results["throughput"] = []
    for max_active in (1, 25):
        t = throughput(a.throughput, max_active)
        results["throughput"].append(t)
        print(f"throughput, {t['wizards']} wizards, {t['tasks']} tasks, max_active {max_active}: "
              f"{t['tasks_per_s']} tasks/s ({t['seconds']} s)")
    r = idle_rss(a.wizards)
    results["idle"] = r
    print(f"idle robe run, {r['wizards']} wizards: {r['total_rss_mib']} MiB over {r['processes']} process(es) "
          f"(robe run itself {r['rss_mib']} MiB; target < {TARGETS['idle_rss_mib']:.0f} MiB)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
