"""Several "machines" on one: a hub folder and host folders that share no files, each host's
executor its own process (ROBE_HOST names the machine), a real redis-server between them.

Used by the three-host test (tests/broker/test_hosts.py) and by bench/broker_bench.py (the
5,000-task run and the latency figures). A fault plan SIGKILLs executors at random and restarts
the broker once; the hub's dispatch and monitor run in a thread of the calling process, as a
``robe run`` on the hub would run them.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import redis

from robe.broker.client import close_brokers
from robe.clock import parse_stamp
from robe.dispatch import dispatch
from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house
from robe.monitor import monitor
from robe.queue import QUIET_S, load

ROBE = os.path.join(os.path.dirname(sys.executable), "robe")
HEADER = "# Work\n\n| ID | Status | Task | Assignee |\n|----|--------|------|----------|\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Debian's redis-server on a free loopback port, append-only, in ``folder``."""

    def __init__(self, folder: str):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.clients: list[redis.Redis] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: the broker tests need Debian's redis-server "
                               "(.ci/run installs it: apt-get install redis-server)")
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.folder, "--appendonly", "yes",
             "--save", "", "--protected-mode", "yes", "--daemonize", "no", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        with redis.Redis(host="127.0.0.1", port=self.port, protocol=2, socket_connect_timeout=0.2) as client:
            while True:
                try:
                    client.ping()
                    return self
                except redis.exceptions.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port} "
                                           f"(see {self.folder}/redis.log)") from None
                    time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        """A client of the caller's own, closed with the server."""
        c = redis.Redis(host="127.0.0.1", port=self.port, protocol=2, decode_responses=True)
        self.clients.append(c)
        return c

    def close(self) -> None:
        close_brokers()
        for c in self.clients:
            c.close()
        self.stop()


@dataclass
class Faults:
    """What to break during the run: ``kills`` SIGKILLs of a random executor, spread over the
    first ``spread`` of the tasks, and one broker restart when ``restart_at`` of them are done."""

    kills: int = 0
    restart_at: float | None = None
    spread: float = 0.8
    seed: int = 21


@dataclass
class Run:
    """What one run measured and left behind (folders, for the checks)."""

    hub: str
    hosts: dict
    tasks: int
    seconds: float = 0.0
    kills: int = 0
    restarts: int = 0
    complete: int = 0
    hub_errors: list = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.complete / self.seconds if self.seconds else 0.0


def wizard_names(hosts, per_host: int) -> dict[str, list[str]]:
    return {h: [f"{h}-{i}" for i in range(1, per_host + 1)] for h in hosts}


def write_hub(folder: str, url: str | None, placed: dict[str, list[str]], *, lease: int, max_active: int,
              max_attempts: int) -> str:
    """The hub's fleet.yaml (one shared WORK-QUEUE.md) and its houses; without ``url`` every
    wizard runs on the hub through the house folders (the single-host file transport)."""
    os.makedirs(folder, exist_ok=True)
    doc: dict = {"root": ".", "ports": {"first": 1024, "last": 65535}, "host": "hub", "wizards": {}}
    if url:
        doc["broker"] = url
    for h, names in placed.items():
        for n in names:
            entry = {"port": free_port(), "agent": "echo", "gateway": None, "queue": "WORK-QUEUE.md",
                     "lease": lease, "max_active": max_active, "max_attempts": max_attempts}
            if url:
                entry["host"] = h
            doc["wizards"][n] = entry
    path = os.path.join(folder, "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    fleet = load_fleet(path)
    for w in fleet.wizards:
        ensure_house(fleet, w)
    with open(os.path.join(folder, "WORK-QUEUE.md"), "w") as f:
        f.write(HEADER)
    return path


def task_rows(ids: range, names: list[str]) -> str:
    return "".join(f"| TASK-{i} | PENDING | echo {i} | {names[i % len(names)]} |\n" for i in ids)


def join(folder: str, url: str, host: str) -> str:
    r = subprocess.run([ROBE, "init", "--join", url, "--host", host, "--no-mcp", folder], capture_output=True,
                       text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"robe init --join failed for {host}: {r.stdout}{r.stderr}")
    return os.path.join(folder, "fleet.yaml")


class Executors:
    """One ``robe execute`` process per machine; SIGKILLed and started again on demand."""

    def __init__(self, fleets: dict[str, tuple[str, list[str] | None]], logs: str):
        self.fleets = fleets  # host -> (fleet.yaml, --wizard names or None)
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.files = []
        os.makedirs(logs, exist_ok=True)

    def start(self, host: str) -> None:
        path, names = self.fleets[host]
        args = [ROBE, "execute", "--fleet", path, "--quiet", "--scan-interval", "0.5"]
        for n in names or ():
            args += ["--wizard", n]
        log = open(os.path.join(self.logs, f"{host}.log"), "a")
        self.files.append(log)
        self.procs[host] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, ROBE_HOST=host))

    def start_all(self) -> None:
        for h in self.fleets:
            self.start(h)

    def kill(self, host: str) -> None:
        p = self.procs[host]
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.start(host)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.files:
            f.close()


class HubLoop:
    """Dispatch and monitor, over and over, in a thread (what the hub's scheduler does)."""

    def __init__(self, fleet_path: str, pause: float = 0.02):
        self.fleet = load_fleet(fleet_path)
        self.pause = pause
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="hub", daemon=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                for rep in (dispatch(self.fleet, gateway=False, err=self.errors.append), monitor(self.fleet)):
                    self.errors += getattr(rep, "errors", [])
            except Exception as e:  # said in the run's errors; a test then fails on what is left undone
                self.errors.append(f"the hub's pass failed: {e!r}")
            self.stopping.wait(self.pause)

    def start(self) -> "HubLoop":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)


def complete_count(queue: str) -> int:
    return load(queue).counts().get("COMPLETE", 0)


def run_hosts(folder: str, *, tasks: int, server: RedisServer | None, hosts=("north", "east", "west"),
              per_host: int = 4, faults: Faults = Faults(), lease: int = 3, max_active: int = 25,
              max_attempts: int = 20, timeout: float = 600.0) -> Run:
    """``tasks`` echo tasks through ``hosts`` machines of ``per_host`` wizards each, until every
    one is COMPLETE (or ``timeout``). With ``server`` None, the same wizards run on the hub from
    the house folders, one executor process per would-be machine (the single-host baseline)."""
    placed = wizard_names(hosts, per_host)
    names = [n for ns in placed.values() for n in ns]
    hub_dir = os.path.join(folder, "hub")
    hub = write_hub(hub_dir, server.url if server else None, placed, lease=lease, max_active=max_active,
                    max_attempts=max_attempts)
    queue = os.path.join(hub_dir, "WORK-QUEUE.md")
    if server:
        # The hub publishes its fleet on its first dispatch; then each machine joins from it.
        dispatch(load_fleet(hub), gateway=False)
        fleets = {h: (join(os.path.join(folder, h), server.url, h), None) for h in hosts}
    else:
        fleets = {h: (hub, placed[h]) for h in hosts}
    run = Run(hub_dir, {h: os.path.dirname(p) for h, (p, _) in fleets.items()}, tasks)
    execs = Executors(fleets, os.path.join(folder, "logs"))
    execs.start_all()
    rng = random.Random(faults.seed)
    kill_at = sorted(rng.randrange(1, max(2, int(tasks * faults.spread))) for _ in range(faults.kills))
    loop = HubLoop(hub)
    try:
        time.sleep(1.0)  # the executors' start-up is not the transport's time
        t0 = time.monotonic()
        with open(queue, "a") as f:
            f.write(task_rows(range(1, tasks + 1), names))
        loop.start()
        deadline = t0 + timeout
        waited = 0
        while time.monotonic() < deadline:
            done = complete_count(queue)
            if kill_at and kill_at[0] <= done:
                # A machine whose executor holds claims right now, so that the kill costs an attempt.
                busy = [h for h in hosts if glob.glob(os.path.join(run.hosts[h], "*", "work", "*.active"))]
                waited = waited + 1 if not busy else 0
                if busy or waited > 10:
                    kill_at.pop(0)
                    execs.kill(rng.choice(busy or list(hosts)))
                    run.kills += 1
                    waited = 0
            if server and faults.restart_at is not None and not run.restarts and done >= tasks * faults.restart_at:
                server.restart()
                run.restarts += 1
            if done >= tasks:
                break
            time.sleep(0.05)
        run.seconds = time.monotonic() - t0
        run.complete = complete_count(queue)
    finally:
        loop.stop()
        execs.stop()
    run.hub_errors = loop.errors
    return run


def save_to_start(folder: str, run: Run, *, samples: int,
                  gap: float = QUIET_S + 0.5) -> tuple[list[float], list[float]]:
    """Seconds from a task saved in the hub's WORK-QUEUE.md to its agent starting (the
    executor's started_at), and from the hub's claim (claimed_at) to the same start, one task at
    a time on the quiet fleet ``run`` left, appended to its queue (robe will not write over a
    file that just lost most of its tasks, so it is not cut back). ``gap`` between saves: longer
    than robe's quiet window, as a person's saves are (robe marks the file once nobody writes it)."""
    hub = os.path.join(run.hub, "fleet.yaml")
    fleet = load_fleet(hub)
    queue = os.path.join(run.hub, "WORK-QUEUE.md")
    names = fleet.names
    fleets = {h: (os.path.join(p, "fleet.yaml"), None) for h, p in run.hosts.items()} if fleet.broker else \
        {h: (hub, [n for n in names if n.startswith(h + "-")]) for h in run.hosts}
    execs = Executors(fleets, os.path.join(folder, "logs"))
    execs.start_all()
    loop = HubLoop(hub, pause=0.005)
    out, claimed = [], []
    try:
        time.sleep(1.5)
        loop.start()
        first = run.tasks + 1
        for i in range(first, first + samples):
            w = fleet.wizard(names[i % len(names)])
            saved = time.time()
            with open(queue, "a") as f:
                f.write(task_rows(range(i, i + 1), names))
            started = _wait_stamp(w, f"TASK-{i}", "completed", ".json", "started_at")
            out.append(started - saved)
            claimed.append(started - _wait_stamp(w, f"TASK-{i}", "work", ".active", "claimed_at"))
            time.sleep(gap)
    finally:
        loop.stop()
        execs.stop()
    return out, claimed


def _wait_stamp(w, tid: str, folder: str, ext: str, key: str, timeout: float = 30.0) -> float:
    """A time robe wrote in the hub's copy of a claim or a result, in place or archived."""
    deadline = time.monotonic() + timeout
    paths = [os.path.join(w.house, folder, f"{tid}{ext}"), os.path.join(w.house, folder, "archive", f"{tid}.1{ext}")]
    while time.monotonic() < deadline:
        for p in paths:
            try:
                with open(p) as f:
                    return parse_stamp(json.load(f)[key]).timestamp()
            except (OSError, ValueError, KeyError, AttributeError):
                continue
        time.sleep(0.002)
    raise RuntimeError(f"{tid}: no {key} within {timeout} s")


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def audit(run: Run) -> dict:
    """What the hub's files say of every task: folded COMPLETE once, and each attempt before
    the last ended by a takeover (or a retry) on record. Returns counts and the problems."""
    fleet = load_fleet(os.path.join(run.hub, "fleet.yaml"))
    events: dict[str, list[dict]] = defaultdict(list)
    for w in fleet.wizards:
        path = os.path.join(w.house, "logs", "events.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    e = json.loads(line)
                    if e.get("task"):
                        events[e["task"]].append(e)
    statuses = {t.id: t.status.value for t in load(os.path.join(run.hub, "WORK-QUEUE.md")).tasks}
    problems = []
    attempts = Counter()
    for tid, st in statuses.items():
        evs = events.get(tid, [])
        completes = [e for e in evs if e.get("to") == "COMPLETE"]
        if st != "COMPLETE" or len(completes) != 1:
            problems.append(f"{tid}: {st}, folded COMPLETE {len(completes)} times")
            continue
        last = completes[0].get("attempt") or 1
        attempts[last] += 1
        ended = {e.get("attempt") for e in evs if e.get("event") in ("takeover", "retry")
                 or (e.get("from") == "IN_PROGRESS" and e.get("to") == "PENDING")}
        missing = [a for a in range(1, last) if a not in ended]
        if missing:
            problems.append(f"{tid}: attempt(s) {missing} before the last ({last}) have no end on record")
    return {"tasks": len(statuses), "by_final_attempt": dict(sorted(attempts.items())), "problems": problems}
