"""Fixtures for the fleet tests: a fleet in a tmp folder on a port range nobody else uses."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY_SERVER = os.path.join(HERE, "gateway_server.py")


def _free(port: int) -> bool:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_range(n: int = 12) -> tuple[int, int]:
    """``n`` consecutive free ports, at a random place well below the ephemeral range."""
    for _ in range(200):
        first = random.randrange(20000, 31000 - n)
        if all(_free(p) for p in range(first, first + n)):
            return first, first + n - 1
    raise RuntimeError("no free port range found")


@pytest.fixture
def ports():
    return free_range()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fleet_dir(tmp_path, ports, monkeypatch):
    """An empty fleet (no wizards) in tmp_path/fleet, on its own port range."""
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    d = tmp_path / "fleet"
    d.mkdir()
    (d / "fleet.yaml").write_text(
        "# test fleet\n"
        "root: .\n"
        f"ports: {{first: {ports[0]}, last: {ports[1]}}}   # a range of its own\n"
        "\n"
        "wizards:\n"
    )
    yield d
    # Gateways are detached on purpose: stop whatever a test left running.
    from robe.fleet.config import FleetError, load_fleet
    from robe.fleet.gateway import stop_gateway

    try:
        fleet = load_fleet(str(d / "fleet.yaml"))
    except FleetError:
        return
    for w in fleet.wizards:
        stop_gateway(w, timeout=2)


@pytest.fixture
def fleet_path(fleet_dir):
    return str(fleet_dir / "fleet.yaml")


def gateway_cmd(*extra: str) -> str:
    """The --gateway-start command line of the stand-in HTTP gateway."""
    return " ".join([sys.executable, GATEWAY_SERVER, *extra])


@pytest.fixture
def listener():
    """Open a listening socket on 127.0.0.1:port; closed at the end of the test."""
    socks = []

    def listen(port: int):
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.listen()
        socks.append(s)
        return s

    yield listen
    for s in socks:
        s.close()


@pytest.fixture
def spawn():
    """Start helper processes; each is killed at the end of the test."""
    procs = []

    def start(argv, **kw):
        p = subprocess.Popen(argv, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
