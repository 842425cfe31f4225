"""Fixtures for the dashboard's tests: a fleet in a tmp folder, ``robe dashboard`` and
``robe run --dashboard`` as real processes (a real uvicorn server), an HTTP client that keeps
its session cookie and can send any header, and Debian's headless Chromium driven by Selenium.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from robe.fleet.config import load_fleet
from ..support import fleet_json, free_port, statuses, wait_for  # noqa: F401  (tests import them from here too)

ROBE = os.path.join(os.path.dirname(sys.executable), "robe")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Headless Chromium on a machine with a closed network: without the background-networking
#: flags its own connections (updates, sync) are refused and slow it down.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000")


def write_fleet(root, wizards: dict, **top):
    """The fleet of ``fleet_json`` (fleet.yaml in ``root``, houses built), loaded."""
    return load_fleet(fleet_json(root, wizards, **top))


def write_queue(path: str, text: str) -> None:
    """As a person's editor saves: a new file renamed over the old one."""
    tmp = path + ".swp~"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def robe_env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("ROBE_DASHBOARD_TOKEN", None)
    env.update(extra)
    return env


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Proc:
    """A robe process whose output goes to a file in the test's folder."""

    def __init__(self, argv, folder, env=None):
        self.log = os.path.join(str(folder), f"proc-{time.monotonic_ns()}.log")
        with open(self.log, "wb") as out:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=str(folder),
                                      env=env or robe_env(), start_new_session=True)

    def output(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout: float = 30.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
                raise AssertionError(f"{self.p.args[1]} did not stop within {timeout} s on SIGTERM")
        return self.p.returncode


@pytest.fixture
def procs(tmp_path):
    started: list[Proc] = []

    def start(argv, env=None, port=None, wait=20.0) -> Proc:
        proc = Proc(argv, tmp_path, env)
        started.append(proc)
        if port is not None:
            wait_for(lambda: listening(port) or proc.p.poll() is not None, wait, what=f"port {port}")
            if proc.p.poll() is not None:
                raise AssertionError(f"{' '.join(argv[:2])} exited {proc.p.returncode}:\n{proc.output()}")
        return proc

    yield start
    for proc in started:
        if proc.p.poll() is None:
            try:
                os.killpg(proc.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.p.wait(10)


@pytest.fixture
def dashboard(procs):
    """Start ``robe dashboard`` on a free loopback port; returns (Proc, base URL)."""
    def start(fleet, *args, env=None):
        port = free_port()
        proc = procs([ROBE, "dashboard", "--fleet", fleet.path, "--port", str(port), *args], env=env, port=port)
        return proc, f"http://127.0.0.1:{port}"
    return start


@pytest.fixture
def robe_run(procs):
    """Start ``robe run --dashboard PORT`` (executors in the process); returns (Proc, base URL)."""
    def start(fleet, *args, env=None):
        port = free_port()
        proc = procs([ROBE, "run", "--fleet", fleet.path, "-v", "--dashboard", str(port), *args], env=env,
                     port=port, wait=30)
        for w in fleet.wizards:
            wait_for(lambda: os.path.exists(w.executor_file), 20, what=f"the executor of {w.name} to start")
        return proc, f"http://127.0.0.1:{port}"
    return start


class Client:
    """HTTP/1.1 to the dashboard with its session cookie kept, and any header sent as given."""

    def __init__(self, base: str):
        self.base = base
        self.host, port = base.split("//")[1].rsplit(":", 1)
        self.port = int(port)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = {"Host": f"{self.host}:{self.port}"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent["Content-Length"] = str(len(body))
        sent.update(headers or {})
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in sent.items():
                if v is not None:
                    conn.putheader(k, v)
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        for value in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return r.status, r.headers, data.decode("utf-8", errors="replace")

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)

    def csrf(self) -> str:
        status, _, text = self.get("/")
        assert status == 200, text
        m = re.search(r'<meta name="robe-csrf" content="([0-9a-f]+)">', text)
        assert m, "the page carries no CSRF token"
        return m.group(1)

    def act(self, payload: dict, *, origin: str | None = "same", csrf: str | None = "fresh", headers=None):
        """POST an action as the dashboard's page does (same Origin, the session's CSRF token)."""
        sent = {"Content-Type": "application/json"}
        sent["Origin"] = self.base if origin == "same" else origin
        sent["X-Robe-CSRF"] = self.csrf() if csrf == "fresh" else csrf
        sent.update(headers or {})
        status, _, text = self.request("POST", "/action", json.dumps(payload).encode(), sent)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, {"message": text}


def unescape(text: str) -> str:
    return html.unescape(text)


class Feed:
    """The live feed (a WebSocket to /live) as a page opens it; wsproto plays the browser."""

    def __init__(self, base: str, *, origin: str | None = "same", cookies: dict | None = None,
                 host: str | None = None):
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request

        name, port = base.split("//")[1].rsplit(":", 1)
        self.sock = socket.create_connection((name, int(port)), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        headers = []
        if origin is not None:
            headers.append(("Origin", base if origin == "same" else origin))
        if cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        self.sock.sendall(self.ws.send(Request(host=host or f"{name}:{port}", target="/live",
                                               extra_headers=headers)))
        self.status = None  # 101 when accepted, else the HTTP status of the refusal
        self._pending: list = []
        while self.status is None:
            for event in self._read():
                kind = type(event).__name__
                if kind == "AcceptConnection":
                    self.status = 101
                elif kind == "RejectConnection":
                    self.status = event.status_code
                else:
                    self._pending.append(event)

    def _read(self) -> list:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        return list(self.ws.events())

    def next(self, timeout: float = 10.0) -> dict:
        """The next message of the feed, as JSON."""
        self.sock.settimeout(timeout)
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if type(event).__name__ == "TextMessage":
                    return json.loads(event.data)
                if type(event).__name__ == "CloseConnection":
                    raise AssertionError("the feed was closed")
            self._pending = self._read()

    def close(self) -> None:
        self.sock.close()


def feed_status(base: str, **kwargs) -> int:
    """101 when the live feed opens for this handshake, else the status that refused it."""
    feed = Feed(base, **kwargs)
    feed.close()
    return feed.status


# ---------------------------------------------------------------------------------------------
# The browser


def chromium_options(profile: str):
    from selenium.webdriver.chrome.options import Options

    o = Options()
    o.binary_location = CHROMIUM
    for a in CHROMIUM_ARGS:
        o.add_argument(a)
    o.add_argument(f"--user-data-dir={profile}")
    return o


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, through Debian's chromedriver: one per test module."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are not installed; .ci/run installs them "
                    "(apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="robe-chromium-")
    driver = webdriver.Chrome(options=chromium_options(profile), service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
