"""Benchmark openclaw-work as whole processes: one wizard, 1,000 / 10,000 / 100,000 tasks.

Each timed run is what cron runs: ``openclaw-work --fleet F -q --no-gateway`` in a fresh
process, reading the whole queue (the three styles mixed, bench/queue_bench.py's generator),
claiming the next task and marking it IN_PROGRESS. The queue and the house are reset between
runs, outside the timing, so every run really claims. Nothing is kept between runs anywhere:
HOME and XDG_CACHE_HOME point at an empty folder for the children.

Beside it, in the same run and interleaved with it: ``python -c pass`` (the interpreter's own
start), ``python -c "import click, yaml"`` (the floor of any Python command line on the
libraries robe was asked to use), and a bash+sed script doing the seed's naive steps (grep the first PENDING line, sed it
to IN_PROGRESS, touch the trigger). Peak memory is each child's own max RSS (wait4).

    python bench/dispatch_bench.py [--runs 11] [--sizes 1000,10000,100000] [--json out.json]

The ceilings (issue 15) guard against regressions; they are not targets to optimise towards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from queue_bench import generate  # noqa: E402  (the same queues as the queue benchmark)

CEILINGS_MS = {1000: 120.0, 10000: 400.0, 100000: 4000.0}
CEILING_RSS_MIB = 300.0

NAIVE = r"""#!/bin/bash
# The seed's openclaw-work.sh steps, naively: first PENDING line -> IN_PROGRESS, touch the trigger.
Q="$1"; WORK="$2"
n=$(grep -n -m1 'PENDING' "$Q" | cut -d: -f1)
[ -z "$n" ] && exit 0
id=$(sed -n "$((n-1)),${n}p" "$Q" | grep -o -m1 'TASK-[0-9]*' | head -1)
sed -i "${n}s/PENDING/IN_PROGRESS/" "$Q"
mkdir -p "$WORK" && touch "$WORK/${id:-TASK}.active"
"""


def run(argv: list[str], cwd: str, env: dict) -> tuple[float, float]:
    """Wall time (ms) and the child's own peak RSS (MiB) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    ms = (time.perf_counter() - t0) * 1000
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {err}")
    return ms, usage.ru_maxrss / 1024


def make_case(root: str, n: int) -> str:
    os.makedirs(root)
    text = generate(n)
    text = re.sub(r"- Assignee: [a-z-]+\n", "", text)  # one wizard: the others would be unknown wizards
    text = re.sub(r"\| ezra \|\n", "| allegro |\n", text)
    for name in ("WORK-QUEUE.md", "pristine.md"):
        with open(os.path.join(root, name), "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(root, "fleet.yaml"), "w") as f:
        f.write("root: .\nwizards:\n  allegro:\n    port: 8643\n    agent: echo\n    queue: WORK-QUEUE.md\n")
    with open(os.path.join(root, "naive.sh"), "w") as f:
        f.write(NAIVE)
    return os.path.join(root, "fleet.yaml")


def reset(root: str) -> None:
    shutil.copy(os.path.join(root, "pristine.md"), os.path.join(root, "WORK-QUEUE.md"))
    for d in ("allegro", "logs", "naive-work"):
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)


def make_cases(tmp: str, sizes: list[int]) -> dict[int, str]:
    """The queues, written by a child process: generating a 100,000-task queue here would grow
    this process, and every child forked from it would count that memory in its peak RSS."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import dispatch_bench as b\n"
            "for n in sys.argv[3:]: b.make_case(b.os.path.join(sys.argv[2], 'q' + n), int(n))\n")
    subprocess.run([sys.executable, "-c", code, HERE, tmp, *map(str, sizes)], check=True)
    return {n: os.path.join(tmp, f"q{n}", "fleet.yaml") for n in sizes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    bindir = os.path.dirname(sys.executable)
    tmp = tempfile.mkdtemp(prefix="robe-dispatch-bench-")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    # What users run: an installed package with its bytecode cache (some environments set
    # PYTHONDONTWRITEBYTECODE, which makes every process compile robe's sources again).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ROBE_FLEET")}
    env.update(HOME=home, XDG_CACHE_HOME=os.path.join(home, ".cache"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(os.path.dirname(
        __import__("robe").__file__))], env=env, check=True)
    results = {"python_pass": [], "click_yaml": [], "sizes": {}}
    try:
        cases = make_cases(tmp, sizes)
        for n, fleet in cases.items():
            root = os.path.dirname(fleet)
            runs = args.runs if n < 100000 else max(3, args.runs // 2)
            rows = {"robe": [], "robe_rss": [], "naive": []}
            openclaw = [os.path.join(bindir, "openclaw-work"), "--fleet", fleet, "-q", "--no-gateway"]
            run(openclaw, root, env)  # a warm-up: the page cache holds robe and the queue
            reset(root)
            for _ in range(runs):
                results["python_pass"].append(run([sys.executable, "-c", "pass"], root, env)[0])
                results["click_yaml"].append(run([sys.executable, "-c", "import click, yaml"], root, env)[0])
                reset(root)
                ms, rss = run(openclaw, root, env)
                rows["robe"].append(ms)
                rows["robe_rss"].append(rss)
                reset(root)
                rows["naive"].append(run(["bash", "naive.sh", "WORK-QUEUE.md", "naive-work"], root, env)[0])
            reset(root)
            results["sizes"][n] = rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    py = statistics.median(results["python_pass"])
    floor = statistics.median(results["click_yaml"])
    print(f"python -c pass: {py:.1f} ms; python -c 'import click, yaml': {floor:.1f} ms "
          f"(medians of {len(results['python_pass'])})")
    print(f"{'tasks':>8}  {'openclaw-work':>14}  {'ceiling':>8}  {'x python':>9}  {'bash+sed':>9}  "
          f"{'x bash+sed':>10}  {'peak RSS':>9}")
    summary = {"python_pass_ms": round(py, 1), "import_click_yaml_ms": round(floor, 1), "sizes": {}}
    for n, rows in results["sizes"].items():
        robe, naive = statistics.median(rows["robe"]), statistics.median(rows["naive"])
        rss = max(rows["robe_rss"])
        ok = "ok" if robe < CEILINGS_MS[n] and rss < CEILING_RSS_MIB else "OVER"
        print(f"{n:>8}  {robe:>11.1f} ms  {CEILINGS_MS[n]:>6.0f} ms  {robe / py:>8.1f}x  {naive:>6.1f} ms  "
              f"{robe / naive:>9.1f}x  {rss:>5.0f} MiB  {ok}")
        summary["sizes"][n] = {"openclaw_work_ms": round(robe, 1), "min_ms": round(min(rows["robe"]), 1),
                               "bash_sed_ms": round(naive, 1), "peak_rss_mib": round(rss, 1),
                               "ceiling_ms": CEILINGS_MS[n], "runs": len(rows["robe"])}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
