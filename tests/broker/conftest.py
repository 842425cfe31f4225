"""A real redis-server for the broker tests (Debian's package; .ci/run installs it): started on a
free loopback port, append-only, in its own temp folder. No fake Redis: a test that cannot start
one fails and says why."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import redis

from robe.broker.client import close_brokers
from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house
from ..support import free_port


class RedisServer:
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
            pytest.fail("redis-server is not installed: the broker tests need Debian's redis-server "
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
                        pytest.fail(f"redis-server did not start on 127.0.0.1:{self.port} "
                                    f"(see {self.folder}/redis.log)")
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
        """A client of the test's own, closed with the server."""
        c = redis.Redis(host="127.0.0.1", port=self.port, protocol=2, decode_responses=True)
        self.clients.append(c)
        return c


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(str(tmp_path / "redis"))
    server.start()
    try:
        yield server
    finally:
        close_brokers()
        for c in server.clients:
            c.close()
        server.stop()


def write_fleet(folder, doc: dict, *, build: bool = True):
    """fleet.yaml in ``folder`` (JSON is YAML) and, with ``build``, the houses it names on this
    "machine" (every house on the hub; only its own wizards' elsewhere)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(str(folder), "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    fleet = load_fleet(path)
    if build:
        for w in fleet.wizards:
            if fleet.host == fleet.hub or fleet.runs_here(w):
                ensure_house(fleet, w)
    return fleet


def hub_doc(url: str | None, wizards: dict, **top) -> dict:
    """A hub's fleet: ``wizards`` name -> settings (an echo agent unless given)."""
    doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, "host": "hub", "wizards": {}}
    if url:
        doc["broker"] = url
    for name, settings in wizards.items():
        entry = {"port": free_port(), "agent": "echo"}
        entry.update(settings)
        doc["wizards"][name] = entry
    doc.update(top)
    return doc
