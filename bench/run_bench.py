"""Benchmark robe run as an engine (issue 17), side by side with the cron path and a bash loop
doing the seed's steps, in one run.

Everything runs as real processes on throwaway fleets of echo wizards without gateways
(``robe init`` of a fleet.yaml written as JSON), without PYTHONDONTWRITEBYTECODE after
compileall, as an installed package runs. All times are read from one clock, the wall clock
(``time.time()`` in the bench, robe's ISO stamps with milliseconds in its files).

Scenarios (each size is a flag; ``--quick`` shrinks all of them to a < 2 minute run):

- ``latency``: one wizard, tasks saved one at a time into its WORK-QUEUE.md while ``robe run``
  is idle (a pause of 10-50 ms after each is COMPLETE). Saves alternate between an append in
  place (open for appending, write, close) and a temp copy renamed over the file.
    t0 = time.time() just before the bench opens the file to save the task line
    t1 = the agent's start: echo runs in robe's executor thread, so t1 is ``started_at`` of the
         result (completed/archive/<ID>.1.json), stamped by the executor when it takes the claim
         (after the claim lock, before reading the claim and calling the agent; milliseconds,
         truncated); for a ``command`` agent (``--command-latency``) the agent itself (bash)
         writes ``$EPOCHREALTIME`` first thing, so t1 includes bash's own start
    t2 = time.time() when the bench, woken by inotify (close-after-write or rename in the
         house folder), finds ``[x] <ID> COMPLETE`` in the file
  The same with the queue already holding 10,000 tasks (COMPLETE/BLOCKED; ``--big``).
  The cron path: after each save, the commands cron runs, back to back, as children:
  ``flock -n logs/cron-dispatch.lock robe dispatch --wizard W``, ``robe execute --once --wizard
  W``, ``flock -n logs/cron-monitor.lock robe monitor --wizard W``; t2 when the monitor exits
  (the file is then checked). Real cron adds its schedule (minutes) on top: this is its floor.
  The bash loop: after each save, one run of a bash script doing the seed's steps (grep the
  first PENDING line, sed it to IN_PROGRESS, echo the answer, sed it to COMPLETE).
- ``throughput``: 10 wizards (``max_active`` 4), each wizard's queue gets its share of 2,000
  tasks in one append, all ten saved at once; from t0 (before the first save) to the last
  ``COMPLETE`` transition in the wizards' events; echo agents, then a ``command`` agent
  running /bin/true. robe's own CPU: utime+stime of the robe run process (/proc/PID/stat)
  over the run, divided by the tasks; the agents' CPU (cutime+cstime) apart. Writes of each
  queue file are counted from its displaced index (one line per robe write). Cron path: the
  three commands fleet-wide (no ``--wizard``: cron's best case) back to back until done;
  bash: one seed loop per queue file, all ten at once.
- ``memory``: 50 wizards reading one 100,000-task queue (queue_bench.py's generator: sections,
  lists and tables; 1 in 500 PENDING, 1 in 10 BLOCKED, the rest COMPLETE, assignees spread
  over the wizards); robe run started, the PENDING ones done, then VmRSS and VmHWM of robe
  run from /proc, and save -> COMPLETE of a few tasks appended to that file.
- ``reliability``: kill_run.py (kill -9 of robe run at random moments, restarts, a person
  editing meanwhile).

    python bench/run_bench.py [--quick] [--only latency,throughput,memory,reliability] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from runlib import (ENV, ROBE, Inotify, append, backdate, count_complete, cpu_s, end_strays, epoch, events,  # noqa: E402
                    mem_mib, start_run, stop_run, summary, tail, threads, write_fleet)

TARGETS = {
    "start_p50": 30.0, "start_p99": 150.0, "complete_p50": 100.0, "complete_p99": 400.0, "big_p50": 200.0,
    "echo_tps": 200.0, "command_tps": 100.0, "rss_mib": 80.0,
}

SEED_SCRIPT = r"""#!/bin/bash
# The seed's steps on one queue file: the first PENDING task -> IN_PROGRESS -> the agent (echo)
# -> COMPLETE. With --loop, until no PENDING task is left; else once.
Q=$1; OUT=$2; LOOP=$3
while line=$(grep -n -m1 'PENDING' "$Q"); do
  n=${line%%:*}
  [[ $line =~ ([A-Z][A-Z0-9]*-[0-9]+) ]] && id=${BASH_REMATCH[1]}
  sed -i "${n}s/PENDING/IN_PROGRESS/" "$Q"
  echo "$EPOCHREALTIME" > "$OUT/$id.start"
  echo "echo agent: $id" > "$OUT/$id.txt"
  sed -i "${n}s/IN_PROGRESS/COMPLETE/;${n}s/\[ \]/[x]/" "$Q"
  [ "$LOOP" = --loop ] || break
done
"""


def task_line(tid: str, n: int) -> str:
    return f"- [ ] {tid} PENDING Benchmark task {n}\n"


def big_queue(n: int, assignees: list[str], pending_every: int = 0, seed: int = 1) -> str:
    """queue_bench.generate's realistic queue of ``n`` tasks, with its statuses set to COMPLETE
    (mostly), BLOCKED (1 in 10) and PENDING (1 in ``pending_every``; none when 0), and its
    assignees spread over ``assignees``."""
    from queue_bench import generate

    rng = random.Random(seed)
    out = []
    k = 0
    who = iter(lambda: assignees[rng.randrange(len(assignees))], None)
    for line in generate(n).splitlines(keepends=True):
        if "PENDING" in line or "- Status: COMPLETE" in line:
            k += 1
            st = "PENDING" if pending_every and k % pending_every == 0 else ("BLOCKED" if k % 10 == 3 else "COMPLETE")
            line = line.replace("PENDING", st).replace("- Status: COMPLETE", f"- Status: {st}")
            if st == "COMPLETE" and line.startswith("- [ ]"):
                line = "- [x]" + line[5:]
        if line.startswith("- Assignee: "):
            line = f"- Assignee: {next(who)}\n"
        elif line.startswith("| TASK-"):
            cells = line.split("|")
            cells[-2] = f" {next(who)} "
            line = "|".join(cells)
        out.append(line)
    return "".join(out)


def result_json(house: str, tid: str) -> dict | None:
    for p in sorted(glob.glob(os.path.join(house, "completed", "archive", f"{tid}.*.json"))) + \
             [os.path.join(house, "completed", f"{tid}.json")]:
        try:
            with open(p) as f:
                d = json.load(f)
        except (OSError, ValueError):
            continue
        if d.get("status") == "COMPLETE":
            return d
    return None


def wait_complete(ino: Inotify, queue: str, tid: str, timeout: float = 30.0) -> float:
    needle = f"[x] {tid} COMPLETE".encode()
    end = time.monotonic() + timeout
    while True:
        if needle in tail(queue):
            return time.time()
        left = end - time.monotonic()
        if left <= 0:
            raise SystemExit(f"{tid} not COMPLETE in {queue} after {timeout} s")
        ino.wait(min(left, 0.05))


# ------------------------------------------------------------------------------------------
# latency


def _latency_fleet(folder: str, preload: int, agent: dict | None = None) -> tuple[str, str, str]:
    fleet = write_fleet(folder, ["ezra"], agent=agent)
    house = os.path.join(folder, "ezra")
    queue = os.path.join(house, "WORK-QUEUE.md")
    if preload:
        with open(queue, "w") as f:
            f.write(big_queue(preload, ["ezra"]))
        backdate(queue)
    return fleet, house, queue


def latency_robe(n: int, preload: int = 0, command: bool = False, seed: int = 7) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    rng = random.Random(seed)
    try:
        starts = os.path.join(folder, "starts")
        os.mkdir(starts)
        agent = {"kind": "command", "argv": ["/bin/bash", "-c", 'echo "$EPOCHREALTIME" > ' + starts + '/"$1"',
                                             "agent", "{task_id}"]} if command else None
        fleet, house, queue = _latency_fleet(folder, preload, agent)
        p = start_run(fleet, folder, house)
        ino = Inotify([house])
        rows = []
        try:
            for i in range(1, n + 1):
                tid = f"RUN-{i}"
                how = "append" if i % 2 else "rename"
                t0 = time.time()
                append(queue, task_line(tid, i), how)
                t2 = wait_complete(ino, queue, tid)
                rows.append({"id": tid, "how": how, "t0": t0, "t2": t2})
                time.sleep(rng.uniform(0.01, 0.05))
            cpu = cpu_s(p.pid)
        finally:
            stop_run(p)
            ino.close()
        ev = {}
        for e in events(house):
            ev.setdefault(e.get("task"), []).append(e)
        for r in rows:
            tid = r["id"]
            res = result_json(house, tid)
            if command:
                with open(os.path.join(starts, tid)) as f:
                    r["t1"] = float(f.read().strip().replace(",", "."))
            else:
                r["t1"] = epoch(res["started_at"]) if res else None
            for e in ev.get(tid, []):
                if e.get("event") == "dispatch":
                    r["claim"] = epoch(e["ts"])
                elif e.get("step") == "result":
                    r["result"] = epoch(e["ts"])
                elif e.get("to") == "COMPLETE":
                    r["complete"] = epoch(e["ts"])
        out = {"tasks": n, "preload": preload, "agent": "command (bash)" if command else "echo",
               "start": summary([r["t1"] - r["t0"] for r in rows if r.get("t1")]),
               "complete": summary([r["t2"] - r["t0"] for r in rows]),
               "complete_by_save": {how: summary([r["t2"] - r["t0"] for r in rows if r["how"] == how])
                                    for how in ("append", "rename")},
               "steps_ms_p50": _steps(rows), "robe_cpu_s": round(cpu[0], 2),
               "slowest": [(r["id"], r["how"], round((r["t2"] - r["t0"]) * 1000), {k: round((r[k] - r["t0"]) * 1000)
                            for k in ("claim", "t1", "result", "complete") if r.get(k)})
                           for r in sorted(rows, key=lambda r: r["t0"] - r["t2"])[:3]]}
        return out
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _steps(rows: list[dict]) -> dict:
    """Medians of the gaps between the stamps robe wrote (ms; stamps are truncated to ms)."""
    pairs = {"save->claim": ("t0", "claim"), "claim->start": ("claim", "t1"), "start->result": ("t1", "result"),
             "result->COMPLETE": ("result", "complete"), "COMPLETE->seen": ("complete", "t2")}
    out = {}
    for k, (a, b) in pairs.items():
        vals = [r[b] - r[a] for r in rows if r.get(a) is not None and r.get(b) is not None]
        if vals:
            out[k] = round(statistics.median(vals) * 1000, 1)
    return out


def _cron_argv(fleet_path: str, house: str, job: str, wizard: str | None) -> list[str]:
    """What cron runs (robe.cron.crontab's line: flock -n on the job's lock, then robe JOB
    --wizard W), or the fleet-wide command when ``wizard`` is None."""
    from robe.cron.crontab import flock_path, lock_file

    if job == "execute":
        return [ROBE, "execute", "--once", "-q", "--fleet", fleet_path] + (["--wizard", wizard] if wizard else [])
    base = [ROBE, job, "--fleet", fleet_path] + (["--wizard", wizard] if wizard else [])
    return [flock_path(), "-n", lock_file(house, job)] + base if wizard else base


def latency_cron(n: int, preload: int = 0, backdate_save: bool = True) -> dict:
    """With ``backdate_save`` the saved file's mtime is set back 3 s before the commands run:
    a command started by cron cannot know that a save is finished and waits until the file has
    been quiet for QUIET_S (2 s); cron fires on the minute, rarely within 2 s of a save, so
    the figure without that wait is cron's floor. Without it, the wait is in the figure."""
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        fleet, house, queue = _latency_fleet(folder, preload)
        env = dict(ENV, ROBE_FLEET=fleet)
        steps = {j: _cron_argv(fleet, house, j, "ezra") for j in ("dispatch", "execute", "monitor")}
        took = {j: [] for j in steps}
        rows = []
        for i in range(1, n + 1):
            tid = f"RUN-{i}"
            t0 = time.time()
            append(queue, task_line(tid, i), "append" if i % 2 else "rename")
            if backdate_save:
                backdate(queue, 3.0)
            for j, argv in steps.items():
                a = time.time()
                r = subprocess.run(argv, env=env, cwd=house, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                took[j].append(time.time() - a)
                if r.returncode:
                    raise SystemExit(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
            t2 = time.time()
            if f"[x] {tid} COMPLETE".encode() not in tail(queue):
                raise SystemExit(f"cron path: {tid} not COMPLETE after dispatch, execute, monitor")
            res = result_json(house, tid)
            rows.append({"t0": t0, "t1": epoch(res["started_at"]) if res else None, "t2": t2})
        return {"tasks": n, "preload": preload, "backdated": backdate_save,
                "start": summary([r["t1"] - r["t0"] for r in rows if r["t1"]]),
                "complete": summary([r["t2"] - r["t0"] for r in rows]),
                "process_ms_p50": {j: round(statistics.median(v) * 1000, 1) for j, v in took.items()}}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _seed_script(folder: str) -> str:
    path = os.path.join(folder, "seed.sh")
    with open(path, "w") as f:
        f.write(SEED_SCRIPT)
    os.chmod(path, 0o755)
    return path


def latency_bash(n: int, preload: int = 0) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        script = _seed_script(folder)
        queue = os.path.join(folder, "WORK-QUEUE.md")
        out = os.path.join(folder, "out")
        os.mkdir(out)
        with open(queue, "w") as f:
            f.write(big_queue(preload, ["ezra"]) if preload else "# Queue\n\n")
        rows = []
        for i in range(1, n + 1):
            tid = f"RUN-{i}"
            t0 = time.time()
            append(queue, task_line(tid, i), "append" if i % 2 else "rename")
            subprocess.run(["/bin/bash", script, queue, out], check=True)
            t2 = time.time()
            if f"[x] {tid} COMPLETE".encode() not in tail(queue):
                raise SystemExit(f"bash loop: {tid} not COMPLETE")
            with open(os.path.join(out, tid + ".start")) as f:
                rows.append({"t0": t0, "t1": float(f.read().replace(",", ".")), "t2": t2})
        return {"tasks": n, "preload": preload, "start": summary([r["t1"] - r["t0"] for r in rows]),
                "complete": summary([r["t2"] - r["t0"] for r in rows])}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# throughput


def _writes(queue: str) -> int:
    from robe.queue import displaced

    return sum(1 for e in displaced.entries(os.path.realpath(queue)) if "wrote" in e)


def _tput_fleet(folder: str, wizards: int, max_active: int, agent: dict | None):
    names = [f"wizard-{i}" for i in range(wizards)]
    fleet = write_fleet(folder, names, agent=agent, max_active=max_active)
    houses = [os.path.join(folder, n) for n in names]
    return fleet, names, houses, [os.path.join(h, "WORK-QUEUE.md") for h in houses]


def _write_all(queues: list[str], total: int) -> None:
    per = total // len(queues)
    for k, q in enumerate(queues):
        append(q, "".join(task_line(f"RUN-{k * per + i}", k * per + i) for i in range(1, per + 1)))


def _last_complete(houses: list[str]) -> float:
    return max(epoch(e["ts"]) for h in houses for e in events(h) if e.get("to") == "COMPLETE")


def throughput_robe(total: int, wizards: int, max_active: int, command: bool = False) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        agent = {"kind": "command", "argv": ["/bin/true"]} if command else None
        fleet, names, houses, queues = _tput_fleet(folder, wizards, max_active, agent)
        total = total // wizards * wizards
        p = start_run(fleet, folder, houses[0])
        try:
            c0 = cpu_s(p.pid)
            w0 = sum(_writes(q) for q in queues)
            t0 = time.time()
            _write_all(queues, total)
            end = time.monotonic() + 900
            while count_complete(queues) < total:
                if time.monotonic() > end or p.poll() is not None:
                    raise SystemExit(f"throughput: only {count_complete(queues)} of {total} COMPLETE; see {folder}")
                time.sleep(0.02)
            c1 = cpu_s(p.pid)
            mem = mem_mib(p.pid)
            nthreads = threads(p.pid)
        finally:
            stop_run(p)
        took = _last_complete(houses) - t0
        return {"agent": "command /bin/true" if command else "echo", "wizards": wizards, "max_active": max_active,
                "tasks": total, "seconds": round(took, 2), "tasks_per_s": round(total / took, 1),
                "robe_cpu_ms_per_task": round((c1[0] - c0[0]) * 1000 / total, 2),
                "agents_cpu_ms_per_task": round((c1[1] - c0[1]) * 1000 / total, 2),
                "queue_writes": sum(_writes(q) for q in queues) - w0, "vm_hwm_mib": round(mem.get("VmHWM", 0), 1),
                "threads": nthreads}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


def throughput_cron(total: int, wizards: int, max_active: int) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        fleet, names, houses, queues = _tput_fleet(folder, wizards, max_active, None)
        total = total // wizards * wizards
        env = dict(ENV, ROBE_FLEET=fleet)
        steps = [_cron_argv(fleet, folder, j, None) for j in ("dispatch", "execute", "monitor")]
        t0 = time.time()
        _write_all(queues, total)
        rounds = 0
        cpu = 0.0
        while count_complete(queues) < total:
            rounds += 1
            if rounds > total:
                raise SystemExit(f"cron throughput: stuck at {count_complete(queues)} of {total}; see {folder}")
            for argv in steps:
                before = os.times()
                subprocess.run(argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                after = os.times()
                cpu += (after.children_user - before.children_user) + (after.children_system - before.children_system)
        took = time.time() - t0
        return {"wizards": wizards, "max_active": max_active, "tasks": total, "rounds": rounds,
                "seconds": round(took, 2), "tasks_per_s": round(total / took, 1),
                "cpu_ms_per_task": round(cpu * 1000 / total, 1)}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


def throughput_bash(total: int, wizards: int) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        script = _seed_script(folder)
        out = os.path.join(folder, "out")
        os.mkdir(out)
        queues = []
        for i in range(wizards):
            q = os.path.join(folder, f"WORK-QUEUE-{i}.md")
            with open(q, "w") as f:
                f.write("# Queue\n\n")
            queues.append(q)
        total = total // wizards * wizards
        t0 = time.time()
        _write_all(queues, total)
        before = os.times()
        procs = [subprocess.Popen(["/bin/bash", script, q, out, "--loop"]) for q in queues]
        for pr in procs:
            pr.wait()
        took = time.time() - t0
        after = os.times()
        done = count_complete(queues)
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        return {"wizards": wizards, "tasks": total, "complete": done, "seconds": round(took, 2),
                "tasks_per_s": round(total / took, 1), "cpu_ms_per_task": round(cpu * 1000 / total, 2)}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# memory


def _busy(queue: str) -> bool:
    with open(queue, "rb") as f:
        data = f.read()
    return b"PENDING" in data or b"IN_PROGRESS" in data


def memory(wizards: int, tasks: int, probes: int, pending_every: int = 500) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-run-bench-")
    try:
        names = [f"wizard-{i}" for i in range(wizards)]
        queue = os.path.join(folder, "WORK-QUEUE.md")
        fleet = write_fleet(folder, names, queue=queue, top={"default_wizard": names[0]}, max_active=4)
        text = big_queue(tasks, names, pending_every)
        pending = text.count("PENDING")
        with open(queue, "w") as f:
            f.write(text)
        backdate(queue)
        size = os.path.getsize(queue)
        houses = [os.path.join(folder, n) for n in names]
        t0 = time.time()
        p = start_run(fleet, folder, houses[0])
        try:
            ready = time.time() - t0
            end = time.monotonic() + 900
            while _busy(queue):
                if time.monotonic() > end or p.poll() is not None:
                    raise SystemExit(f"memory: the PENDING tasks were not done; see {folder}")
                time.sleep(0.2)
            drained = time.time() - t0
            time.sleep(2.0)
            idle = mem_mib(p.pid)
            ino = Inotify([folder])
            lat = []
            for i in range(1, probes + 1):
                tid = f"RUN-{i}"
                t = time.time()
                append(queue, task_line(tid, i))
                lat.append(wait_complete(ino, queue, tid, 120) - t)
                time.sleep(0.05)
            ino.close()
            after = mem_mib(p.pid)
            cpu = cpu_s(p.pid)
            nthreads = threads(p.pid)
        finally:
            stop_run(p)
        return {"wizards": wizards, "tasks": tasks, "queue_mib": round(size / 2**20, 1), "pending_at_start": pending,
                "ready_s": round(ready, 2), "drained_s": round(drained, 2),
                "rss_idle_mib": round(idle["VmRSS"], 1), "rss_after_mib": round(after["VmRSS"], 1),
                "hwm_mib": round(after["VmHWM"], 1), "threads": nthreads, "robe_cpu_s": round(cpu[0], 1),
                "save_to_complete": summary(lat)}
    finally:
        end_strays(folder)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------


def fmt(s: dict) -> str:
    return f"p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms (min {s['min']:.1f}, max {s['max']:.1f}, n {s['n']})"


def mark(value: float, target: float, below: bool = True) -> str:
    ok = value < target if below else value >= target
    return "" if ok else "  ** MISSED **"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a run of about 2 minutes)")
    ap.add_argument("--only", default="latency,throughput,memory,reliability")
    ap.add_argument("--lat-tasks", type=int, default=200, help="tasks saved one at a time (robe run)")
    ap.add_argument("--big", type=int, default=10_000, help="tasks already in the queue for the big latency run")
    ap.add_argument("--cron-tasks", type=int, default=200, help="latency tasks for the cron path and bash")
    ap.add_argument("--tput", type=int, default=2000, help="tasks written at once (throughput)")
    ap.add_argument("--cron-tput", type=int, default=2000, help="tasks written at once for the cron path")
    ap.add_argument("--tput-wizards", type=int, default=10)
    ap.add_argument("--max-active", type=int, default=4)
    ap.add_argument("--mem-wizards", type=int, default=50)
    ap.add_argument("--mem-tasks", type=int, default=100_000)
    ap.add_argument("--mem-probes", type=int, default=10)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--kill-tasks", type=int, default=2000)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    if a.quick:
        a.lat_tasks, a.big, a.cron_tasks, a.tput, a.cron_tput = 30, 10_000, 8, 400, 80
        a.mem_wizards, a.mem_tasks, a.mem_probes, a.kills, a.kill_tasks = 50, 10_000, 3, 3, 100
    only = set(a.only.split(","))
    import robe

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(robe.__file__)], env=ENV, check=True)
    res: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "args": vars(a)}
    with open("/proc/loadavg") as f:
        res["loadavg_before"] = f.read().split()[:3]

    def show(*lines):
        print(*lines, sep="\n", flush=True)

    if "latency" in only:
        r = res["latency"] = {
            "robe": latency_robe(a.lat_tasks), "robe_big": latency_robe(a.lat_tasks, a.big),
            "robe_command": latency_robe(a.lat_tasks, command=True),
            "cron": latency_cron(a.cron_tasks), "cron_big": latency_cron(max(2, a.cron_tasks // 4), a.big),
            "cron_unbackdated": latency_cron(max(2, min(5, a.cron_tasks // 4)), backdate_save=False),
            "bash": latency_bash(a.lat_tasks), "bash_big": latency_bash(a.lat_tasks, a.big)}
        T = TARGETS
        show("== save -> agent started",
             f"robe run, echo:      {fmt(r['robe']['start'])}{mark(r['robe']['start']['p50'], T['start_p50'])}"
             f"{mark(r['robe']['start']['p99'], T['start_p99'])}",
             f"robe run, command:   {fmt(r['robe_command']['start'])}",
             f"cron path:           {fmt(r['cron']['start'])}",
             f"bash seed loop:      {fmt(r['bash']['start'])}",
             "== save -> COMPLETE in the file",
             f"robe run:            {fmt(r['robe']['complete'])}{mark(r['robe']['complete']['p50'], T['complete_p50'])}"
             f"{mark(r['robe']['complete']['p99'], T['complete_p99'])}",
             f"  by save: append {r['robe']['complete_by_save']['append']['p50']} ms, "
             f"rename {r['robe']['complete_by_save']['rename']['p50']} ms; steps (p50 ms) {r['robe']['steps_ms_p50']}",
             f"robe run, {a.big} queued: {fmt(r['robe_big']['complete'])}"
             f"{mark(r['robe_big']['complete']['p50'], T['big_p50'])}",
             f"  steps (p50 ms) {r['robe_big']['steps_ms_p50']}",
             f"robe run, command:   {fmt(r['robe_command']['complete'])}",
             f"cron path:           {fmt(r['cron']['complete'])}; processes p50 {r['cron']['process_ms_p50']}",
             f"cron path, {a.big} queued: {fmt(r['cron_big']['complete'])}",
             f"cron path, the save not backdated (dispatch waits for 2 s of quiet): "
             f"{fmt(r['cron_unbackdated']['complete'])}",
             f"bash seed loop:      {fmt(r['bash']['complete'])}",
             f"bash, {a.big} queued: {fmt(r['bash_big']['complete'])}")
    if "throughput" in only:
        r = res["throughput"] = {
            "robe_echo": throughput_robe(a.tput, a.tput_wizards, a.max_active),
            "robe_command": throughput_robe(a.tput, a.tput_wizards, a.max_active, command=True),
            "cron": throughput_cron(a.cron_tput, a.tput_wizards, a.max_active),
            "bash": throughput_bash(a.tput, a.tput_wizards)}
        e, c = r["robe_echo"], r["robe_command"]
        show("== throughput",
             f"robe run, echo:      {e['tasks']} tasks, {e['tasks_per_s']} tasks/s ({e['seconds']} s); robe CPU "
             f"{e['robe_cpu_ms_per_task']} ms/task; {e['queue_writes']} queue writes{mark(e['tasks_per_s'], TARGETS['echo_tps'], False)}",
             f"robe run, /bin/true: {c['tasks']} tasks, {c['tasks_per_s']} tasks/s ({c['seconds']} s); robe CPU "
             f"{c['robe_cpu_ms_per_task']} ms/task, agents {c['agents_cpu_ms_per_task']} ms/task; {c['queue_writes']} "
             f"queue writes{mark(c['tasks_per_s'], TARGETS['command_tps'], False)}",
             f"cron path:           {r['cron']['tasks']} tasks, {r['cron']['tasks_per_s']} tasks/s "
             f"({r['cron']['seconds']} s, {r['cron']['rounds']} rounds); CPU {r['cron']['cpu_ms_per_task']} ms/task",
             f"bash seed loops:     {r['bash']['tasks']} tasks, {r['bash']['tasks_per_s']} tasks/s "
             f"({r['bash']['seconds']} s); CPU {r['bash']['cpu_ms_per_task']} ms/task")
    if "memory" in only:
        m = res["memory"] = memory(a.mem_wizards, a.mem_tasks, a.mem_probes)
        show("== memory",
             f"robe run, {m['wizards']} wizards, {m['tasks']} tasks ({m['queue_mib']} MiB): VmRSS idle "
             f"{m['rss_idle_mib']} MiB, after {m['rss_after_mib']} MiB, VmHWM {m['hwm_mib']} MiB"
             f"{mark(m['hwm_mib'], TARGETS['rss_mib'])}; ready in {m['ready_s']} s, "
             f"{m['pending_at_start']} PENDING done in {m['drained_s']} s; save -> COMPLETE {fmt(m['save_to_complete'])}")
    if "reliability" in only:
        import kill_run

        k = res["reliability"] = kill_run.run(tasks=a.kill_tasks, kills=a.kills, log=print)
        show("== reliability", kill_run.describe(k))
    with open("/proc/loadavg") as f:
        res["loadavg_after"] = f.read().split()[:3]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
