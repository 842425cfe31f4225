"""Benchmark the broker (issue 21): one WORK-QUEUE.md, three machines of four wizards each.

Method. Every "machine" is its own folder and its own ``robe execute`` process (ROBE_HOST names
it); they share no files, only a real redis-server (Debian's, append-only, on a free loopback
port). The hub's dispatch and monitor run over and over in a thread of this process, as a
scheduler on the hub would run them. The harness is tests/broker/hosts.py, which the
three-host test runs at a smaller size.

- Throughput: N echo tasks (default 5,000) saved in one write to the hub's queue; tasks per
  second from that save to the last COMPLETE in the file. First the single-host file transport
  (the same 12 wizards on the hub, one executor process per would-be machine, no broker), then
  the three machines through the broker, then the same again with K executors SIGKILLed at
  random while they hold claims and one broker restart half-way (--kills 0 --no-restart: no
  such run). After each run the hub's files are audited: every task COMPLETE, folded once,
  every attempt on record.
- Latency: on the quiet fleet after each run, its queue of N COMPLETE tasks kept, one task
  at a time: from the bench's clock just before it appends the row to WORK-QUEUE.md to the
  ``started_at`` the executor on the other machine wrote for the agent (same machine's clock).

    python bench/broker_bench.py [--tasks 5000] [--kills 50] [--samples 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.broker.hosts import Faults, RedisServer, audit, percentile, run_hosts, save_to_start  # noqa: E402


def one(folder: str, *, tasks: int, samples: int, broker: bool, faults: Faults) -> dict:
    os.makedirs(folder)
    server = RedisServer(os.path.join(folder, "redis")).start() if broker else None
    try:
        run = run_hosts(folder, tasks=tasks, server=server, faults=faults, timeout=3600)
        checked = audit(run)
        lat, claim = save_to_start(folder, run, samples=samples) if samples else ([], [])
    finally:
        if server:
            server.close()
    name = "house files, 1 machine" if not broker else "broker, 3 machines" + (", faults" if faults.kills or
                                                                                faults.restart_at else "")
    out = {"transport": name, "tasks": tasks,
           "complete": run.complete, "seconds": round(run.seconds, 2), "tasks_per_s": round(run.per_second, 1),
           "kills": run.kills, "broker_restarts": run.restarts, "by_final_attempt": checked["by_final_attempt"],
           "problems": checked["problems"][:10]}
    if lat:
        out.update(latency_p50_s=round(statistics.median(lat), 3), latency_p99_s=round(percentile(lat, 99), 3),
                   latency_max_s=round(max(lat), 3), samples=len(lat),
                   claim_to_start_p50_s=round(statistics.median(claim), 4),
                   claim_to_start_p99_s=round(percentile(claim, 99), 4))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--no-restart", action="store_true", help="Do not restart the broker during the run.")
    ap.add_argument("--samples", type=int, default=50, help="Tasks for the latency figures (0: none).")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--keep", action="store_true", help="Keep the folders (printed).")
    args = ap.parse_args()
    top = tempfile.mkdtemp(prefix="robe-broker-bench-")
    results = []
    try:
        results.append(one(os.path.join(top, "files"), tasks=args.tasks, samples=args.samples, broker=False,
                           faults=Faults()))
        results.append(one(os.path.join(top, "broker"), tasks=args.tasks, samples=args.samples, broker=True,
                           faults=Faults()))
        if args.kills or not args.no_restart:
            results.append(one(os.path.join(top, "faults"), tasks=args.tasks, samples=0, broker=True,
                               faults=Faults(kills=args.kills, restart_at=None if args.no_restart else 0.5)))
    finally:
        if args.keep:
            print(f"folders kept in {top}", file=sys.stderr)
        else:
            shutil.rmtree(top, ignore_errors=True)
    print(f"{'transport':<34} {'tasks':>6} {'done':>6} {'s':>7} {'tasks/s':>8} {'kills':>5}   save->start p50/p99 s"
          "   claim->start p50/p99 s")
    for r in results:
        print(f"{r['transport']:<34} {r['tasks']:>6} {r['complete']:>6} {r['seconds']:>7} {r['tasks_per_s']:>8} "
              f"{r['kills']:>5}   {r.get('latency_p50_s', '-')} / {r.get('latency_p99_s', '-')}"
              f"   {r.get('claim_to_start_p50_s', '-')} / {r.get('claim_to_start_p99_s', '-')}")
        print(f"  final attempts {r['by_final_attempt']}; broker restarts {r['broker_restarts']}"
              + (f"; PROBLEMS {r['problems']}" if r["problems"] else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if any(r["problems"] or r["complete"] != r["tasks"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
