"""Fixtures for the executor tests: a fleet of wizards in a tmp folder, claims written the way
the dispatcher writes them (docs/contracts.md), and helpers to wait on real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house
from ..support import free_port  # noqa: F401  (tests import it from here too)

HERE = os.path.dirname(os.path.abspath(__file__))
ROBE = os.path.join(os.path.dirname(sys.executable), "robe")


class FleetMaker:
    def __init__(self, root):
        self.root = root
        self.path = os.path.join(str(root), "fleet.yaml")

    def __call__(self, **wizards) -> object:
        """wizards: name -> dict of fleet.yaml settings (agent, timeout, max_parallel, ...)."""
        doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, "wizards": {}}
        for name, settings in wizards.items():
            entry = {"port": free_port()}
            entry.update(settings)
            doc["wizards"][name] = entry
        with open(self.path, "w") as f:
            json.dump(doc, f, indent=1)  # JSON is YAML
        fleet = load_fleet(self.path)
        for w in fleet.wizards:
            ensure_house(fleet, w)
        return fleet


@pytest.fixture
def make_fleet(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    return FleetMaker(tmp_path)


def drop_claim(w, task_id: str, title: str = "Do the thing", body: str = "The body of the task.",
               attempt: int = 1, sync: bool = True, **overrides) -> str:
    """A claim exactly as the dispatcher makes it: temp file, fsync, os.link, unlink."""
    work = os.path.join(w.house, "work")
    claim = {"id": task_id, "title": title, "priority": "P1", "body": body,
             "prompt": f"{task_id}: {title}\n\n{body}", "wizard": w.name, "attempt": attempt,
             "claimed_at": "2026-11-23T10:00:00.000Z", "claimed_by": f"test:{os.getpid()}", "lease_s": 600,
             "queue": os.path.join(w.house, "WORK-QUEUE.md")}
    claim.update(overrides)
    tmp = os.path.join(work, f".{task_id}.active.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(claim, f)
        f.flush()
        if sync:
            os.fsync(f.fileno())
    os.link(tmp, os.path.join(work, f"{task_id}.active"))
    os.unlink(tmp)
    return os.path.join(work, f"{task_id}.active")


def outcome(wizard, task_id: str) -> dict | None:
    try:
        with open(os.path.join(wizard.house, "completed", f"{task_id}.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def answer(wizard, task_id: str) -> str:
    with open(os.path.join(wizard.house, "completed", f"{task_id}.txt"), encoding="utf-8") as f:
        return f.read()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def agent_script(tmp_path, name: str, code: str) -> str:
    """A Python agent script; returns its path (run as [python, path, ...])."""
    p = tmp_path / name
    p.write_text(code)
    return str(p)


@pytest.fixture
def procs():
    """Start processes (executors); each left running is killed, with its group, at the end."""
    started = []

    def start(argv, **kw):
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()


def executor_cmd(fleet, *args: str) -> list[str]:
    return [ROBE, "execute", "--fleet", fleet.path, *args]
