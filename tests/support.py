"""Scaffolding shared by the parts' tests: files, a fleet.yaml, the venv's scripts, a free port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import textwrap
import time

VENV_BIN = os.path.dirname(sys.executable)


def bin_path(name: str) -> str:
    """A console script of this venv (robe, openclaw-work, ...), else the one on PATH."""
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name) or path
    return path


def write(path, text: str) -> str:
    """Write dedented ``text`` to ``path`` (folders made); returns the path."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))
    return path


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def settle(*paths) -> None:
    """Date queue files 10 s back (robe waits for a queue saved less than 2 s ago to be quiet); a
    folder stands for every WORK-QUEUE.md below it."""
    t = time.time() - 10
    for p in map(str, paths):
        found = [p] if not os.path.isdir(p) else [os.path.join(root, n) for root, _dirs, names in os.walk(p)
                                                   for n in names if n == "WORK-QUEUE.md"]
        for f in found:
            os.utime(f, (t, t))


def wait_for(check, timeout: float, step: float = 0.05, what: str = "the condition"):
    """``check()``'s first true value, asked every ``step`` seconds; AssertionError naming
    ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def statuses(path: str) -> dict[str, str]:
    """{task ID: status word} of the queue file at ``path``."""
    from robe.queue import load

    return {t.id: t.status.value for t in load(path).tasks}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fleet_json(root, wizards: dict, **top) -> str:
    """fleet.yaml in ``root`` written as JSON (JSON is YAML), the houses built; ``wizards``:
    name -> settings over a free port, the echo agent and no gateway. Returns its path."""
    from robe.fleet.config import load_fleet
    from robe.fleet.homes import ensure_house

    doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, **top, "wizards": {}}
    for name, settings in wizards.items():
        doc["wizards"][name] = {"port": free_port(), "agent": {"kind": "echo"}, "gateway": None, **settings}
    path = os.path.join(str(root), "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    fleet = load_fleet(path)
    for w in fleet.wizards:
        ensure_house(fleet, w)
    return path


def write_fleet(root, wizards: dict, routes=None, default=None, extra: str = "", ports=(20000, 20999)) -> str:
    """fleet.yaml in ``root``; ``wizards`` maps name -> dict of settings (a port from ``ports``
    and the echo agent unless given); ``routes`` is a list of (match, wizard)."""
    lines = ["root: .", f"ports: {{first: {ports[0]}, last: {ports[1]}}}"]
    if default:
        lines.append(f"default_wizard: {default}")
    lines.append("wizards:")
    for i, (name, settings) in enumerate(wizards.items()):
        lines.append(f"  {name}:")
        settings = dict(settings)
        settings.setdefault("port", ports[0] + i)
        settings.setdefault("agent", "echo")
        for k, v in settings.items():
            lines.append(f"    {k}: {json.dumps(v)}")
    if routes:
        lines.append("routes:")
        for match, wizard in routes:
            lines.append(f"  - match: {json.dumps(match)}")
            lines.append(f"    wizard: {wizard}")
    os.makedirs(str(root), exist_ok=True)
    path = os.path.join(str(root), "fleet.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)
    return path
