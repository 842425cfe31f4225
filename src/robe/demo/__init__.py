"""robe demo: the whole loop on a throwaway fleet.

A fleet of the seed's three wizards (ezra, allegro, allegro-primus) with echo agents and no
gateways, sharing one WORK-QUEUE.md (the repository's examples/WORK-QUEUE.md when it is
there, else the copy in ``robe.demo.example``), driven by ``robe run``'s loop until the queue is
drained: no task ready to dispatch, none in progress, no claim left and no job running
(BLOCKED stays BLOCKED). Then the progress report and the checkpoint log are printed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

from ..cron.schedule import fleet_schedule, robe_command
from ..engine import Engine, Options, install_signal_handlers
from ..errors import RobeError
from ..fleet.config import load_fleet
from ..fleet.homes import ensure_house
from ..queue import Status, load
from .example import QUEUE

WIZARDS = (
    ("ezra", 8643, "Scribe, archivist"),
    ("allegro-primus", 8644, "Student, autonomous"),
    ("allegro", 8645, "Tempo-and-dispatch"),
)

FLEET_YAML = """\
# A throwaway fleet made by 'robe demo': the seed's three wizards with echo agents.
root: .
default_wizard: allegro
wizards:
{wizards}"""


def example_queue() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    repo_copy = os.path.join(here, "..", "..", "..", "..", "examples", "WORK-QUEUE.md")
    try:
        with open(repo_copy, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return QUEUE


def make_fleet(folder: str) -> str:
    """Write the demo fleet into ``folder`` (which must be empty or new); fleet.yaml's path."""
    os.makedirs(folder, exist_ok=True)
    if os.listdir(folder):
        raise RobeError(f"{folder} is not empty; give 'robe demo --dir' a new or empty folder")
    lines = "".join(f"  {n}:\n    role: {role}\n    port: {port}\n    agent: {{kind: echo}}\n"
                    f"    gateway: null\n    queue: WORK-QUEUE.md\n" for n, port, role in WIZARDS)
    path = os.path.join(folder, "fleet.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(FLEET_YAML.format(wizards=lines))
    with open(os.path.join(folder, "WORK-QUEUE.md"), "w", encoding="utf-8") as f:
        f.write(example_queue())
    fleet = load_fleet(path)
    for w in fleet.wizards:
        ensure_house(fleet, w)
    return path


def drained(fleet) -> bool:
    """Nothing left to do: no task ready or in progress, and no claim waiting in work/."""
    done = {}
    queues = {}
    for w in fleet.wizards:
        for name in os.listdir(w.work_dir) if os.path.isdir(w.work_dir) else ():
            if name.endswith(".active") and not name.startswith("."):
                return False
        if w.queue not in queues:
            queues[w.queue] = load(w.queue)
    for q in queues.values():
        for t in q.tasks:
            done[t.id] = t.status
    for status in done.values():
        if status == Status.IN_PROGRESS:
            return False
    for q in queues.values():
        for t in q.tasks:
            if t.status == Status.PENDING and all(done.get(d) == Status.COMPLETE for d in t.depends):
                return False
    return True


def statuses(fleet) -> dict[str, str]:
    out = {}
    for qpath in dict.fromkeys(w.queue for w in fleet.wizards):
        for t in load(qpath).tasks:
            out[t.id] = t.status.value
    return out


def run_demo(folder: str | None = None, *, timeout: float = 50.0, echo=print) -> int:
    """Build the fleet, drain the queue, print the report and the checkpoint log; exit code."""
    t0 = time.monotonic()
    folder = os.path.abspath(folder or tempfile.mkdtemp(prefix="robe-demo-"))
    path = make_fleet(folder)
    fleet = load_fleet(path)
    echo(f"robe demo: a fleet of {', '.join(w.name for w in fleet.wizards)} (echo agents) in {folder}")
    before = statuses(fleet)
    pending = sorted(i for i, s in before.items() if s == "PENDING")
    echo(f"robe demo: WORK-QUEUE.md has {len(before)} tasks, {len(pending)} PENDING; running the loop")

    env = dict(os.environ, ROBE_FLEET=path)
    robe = robe_command()
    # A first checkpoint of the fleet folder, so the log at the end shows the queue before and after.
    subprocess.run(robe + ["checkpoint", "--root"], env=env, cwd=folder, capture_output=True, timeout=60)

    seen = dict(before)

    def until(runner) -> bool:
        now = statuses(fleet)
        for tid, st in now.items():
            if seen.get(tid) != st:
                echo(f"  {time.monotonic() - t0:5.1f} s  {tid}  {seen.get(tid)} -> {st}")
        seen.clear()
        seen.update(now)
        if not (runner.idle() and drained(fleet)):
            return False
        # One self-monitor sample per wizard while the executors still run, for the report's
        # uptime metric (restart nothing: the executors stop with this loop).
        subprocess.run(robe + ["self-monitor", "--no-restart"], env=env, cwd=folder, capture_output=True,
                       timeout=60)
        return True

    # The loop only: the report and the checkpoint run once, below, when the queue is drained.
    entries = [e for e in fleet_schedule(fleet) if e.job in ("dispatch", "monitor")]
    runner = Engine(fleet, entries=entries, options=Options(exec_scan_interval=0.5))
    install_signal_handlers(runner)
    met = runner.run(until=until, timeout=timeout)
    if runner.stopping.is_set() and not met:
        echo("robe demo: stopped")
        return 1
    final = statuses(fleet)
    counts: dict[str, int] = {}
    for s in final.values():
        counts[s] = counts.get(s, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if not met:
        echo(f"robe demo: the queue was not drained within {timeout:g} s ({summary}); see the logs in {folder}")
        return 1
    echo(f"robe demo: queue drained in {time.monotonic() - t0:.1f} s: {summary}")

    def show(title: str, argv: list[str]) -> int:
        echo(f"\n== {title}: robe {' '.join(argv)}\n")
        r = subprocess.run(robe + argv, env=env, cwd=folder, capture_output=True, text=True, timeout=60)
        out = (r.stdout or "").rstrip("\n")
        if out:
            echo(out)
        if r.returncode:
            echo((r.stderr or "").rstrip("\n") or f"(exit {r.returncode})")
        return r.returncode

    rc = show("progress report", ["report", "--print"])
    rc |= show("checkpoint of the fleet folder", ["checkpoint", "--root"])
    echo(f"\n== checkpoint log: git -C {folder} log --oneline\n")
    try:
        r = subprocess.run(["git", "-C", folder, "log", "--oneline"], capture_output=True, text=True, timeout=30)
        echo((r.stdout or r.stderr).rstrip("\n"))
        rc |= r.returncode
    except OSError as e:
        echo(f"git: {e.strerror or e}")
        rc = 1
    echo(f"\nrobe demo: done in {time.monotonic() - t0:.1f} s; the fleet stays in {folder} "
         f"(ROBE_FLEET={path} robe status)")
    return 1 if rc else 0
