"""Serving the dashboard with uvicorn: in the foreground (``robe dashboard``) or on a thread of
another process (``robe run --dashboard``).

The listening socket is made here, before uvicorn starts, so a port in use or an address
that is not this machine's is one plain sentence and exit 1, not a traceback from a thread.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import webbrowser

import uvicorn

from ..api import Fleet
from .app import Dashboard
from .security import DashboardError, Guard

log = logging.getLogger(__name__)
#: seconds uvicorn waits for open connections (event streams end at once) when stopping
GRACE = 2


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; DashboardError saying what to do otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise DashboardError(f"cannot listen on {host}: {e.strerror}; give an address of this machine") from None
    family, kind, proto, _name, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise DashboardError(f"port {port} on {host} is in use; pick another with --port "
                                 "(or see what holds it: ss -ltnp)") from None
        raise DashboardError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(False)
    return sock


def _server(dashboard: Dashboard) -> uvicorn.Server:
    config = uvicorn.Config(dashboard.app, log_config=None, access_log=False, lifespan="on", http="h11",
                            ws="wsproto", timeout_graceful_shutdown=GRACE, server_header=False)
    return uvicorn.Server(config)


class Background:
    """The dashboard on a thread of its own (with its own event loop), for ``robe run``."""

    def __init__(self, fleet: Fleet, guard: Guard):
        self.guard = guard
        self.dashboard = Dashboard(fleet, guard)
        self.sock = listen(guard.host, guard.port)
        self.server = _server(self.dashboard)
        self.thread = threading.Thread(target=self._run, name="robe dashboard", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException:  # uvicorn exits its thread with SystemExit when its start-up fails
            log.exception("the dashboard stopped with an error")

    def start(self, timeout: float = 10.0) -> "Background":
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < end:
            time.sleep(0.02)
        if not self.server.started:
            raise DashboardError("the dashboard did not start; see the messages above")
        log.info("dashboard: %s", self.guard.url)
        return self

    def stop(self) -> None:
        self.dashboard.stopping.set()
        self.server.should_exit = True
        self.thread.join(GRACE + 5.0)
        self.sock.close()


def serve(fleet: Fleet, guard: Guard, *, open_browser: bool = False, announce=print) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM (uvicorn handles both)."""
    dashboard = Dashboard(fleet, guard)
    sock = listen(guard.host, guard.port)
    server = _server(dashboard)
    url = guard.url
    announce(f"robe dashboard: {url}" + (" (read-only)" if guard.read_only else "")
             + ("  (open it once with ?token=<the token>)" if guard.token else ""))
    if open_browser:
        def opener():
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(url + (f"?token={guard.token}" if guard.token else ""))
        threading.Thread(target=opener, name="robe dashboard opener", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        dashboard.stopping.set()
        sock.close()
