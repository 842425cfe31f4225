"""Gateways: start a wizard's gateway detached, know whether it is the one we started, stop it.

The pid file (``<house>/logs/gateway.pid``) records the pid *and* the process's start time
(field 22 of /proc/<pid>/stat, in clock ticks since boot). A pid file is trusted only while
a process with that pid exists and started at that moment: after a crash and a reboot, or
once the pid has been reused by an unrelated process, the file is stale and robe neither
reports that process as the gateway nor signals it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import NamedTuple
from urllib.parse import urlsplit

from ..clock import stamp
from ..plumbing import atomic_write, private_dir
from .model import FleetError, Wizard
from .ports import holder_pids_text, port_in_use

log = logging.getLogger(__name__)

#: Gateways this process started, by pid. A Popen dropped while its process runs warns, and a
#: child that exits must be reaped or it lingers as a zombie; so keep them, and poll them
#: whenever a gateway's state is asked for (a zombie already counts as gone, see below).
_CHILDREN: dict[int, subprocess.Popen] = {}

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PROBE_TIMEOUT = 1.0


# ---------------------------------------------------------------------------------------------
# Processes


def hermes_program() -> str:
    """The ``hermes`` robe runs: $ROBE_HERMES, else ``hermes`` on PATH (Hermes lives in a
    virtualenv of its own), else the bare name (its absence is then an error where it runs)."""
    return os.environ.get("ROBE_HERMES") or shutil.which("hermes") or "hermes"


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: fields after it start past the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    try:
        if rest[0] == b"Z":  # a zombie has exited; only its exit status is left
            return None
        return int(rest[19])  # field 22 overall; rest starts at field 3
    except (IndexError, ValueError):
        return None


def process_session(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rfind(b")") + 2:].split()[3])  # field 6: session id
    except (OSError, IndexError, ValueError):
        return None


class PidFile(NamedTuple):
    pid: int
    start_time: int
    argv: tuple[str, ...]
    started_at: str = ""


def read_pid_file(path: str) -> PidFile | None:
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return PidFile(int(d["pid"]), int(d["start_time"]), tuple(d.get("argv") or ()), str(d.get("started_at", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_pid_file(path: str, pid: int, start_time: int, argv) -> None:
    data = {"pid": pid, "start_time": start_time, "argv": list(argv), "started_at": stamp()}
    atomic_write(path, (json.dumps(data) + "\n").encode(), mode=0o600)


def pid_file_state(w: Wizard) -> tuple[str, PidFile | None]:
    """("none"|"running"|"stale", the pid file): running only if pid and start time both match."""
    _reap_children()
    pf = read_pid_file(w.pid_file)
    if pf is None:
        return ("none" if not os.path.exists(w.pid_file) else "stale"), None
    if process_start_time(pf.pid) != pf.start_time:
        return "stale", pf
    return "running", pf


def gateway_process(w: Wizard) -> PidFile | None:
    """The pid file of the wizard's running gateway, or None (no file, or a stale one)."""
    state, pf = pid_file_state(w)
    return pf if state == "running" else None


# ---------------------------------------------------------------------------------------------
# Health


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """(healthy, what was seen) for ``http://host:port/path`` (any 2xx) or ``tcp://host:port``."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port
    if u.scheme == "tcp":
        try:
            with socket.create_connection((host, port or 0), timeout=timeout):
                return True, "accepts connections"
        except OSError as e:
            return False, e.strerror or str(e)
    # http.client directly: urllib would honour http_proxy and send a loopback probe to a proxy.
    # (Imported here: with ssl it is a fifth of a cron run's start, and only gateways need it.)
    import http.client

    conn = http.client.HTTPConnection(host, port or 80, timeout=timeout)
    try:
        conn.request("GET", u.path or "/")
        resp = conn.getresponse()
        resp.read(4096)
        return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except (OSError, http.client.HTTPException) as e:
        return False, getattr(e, "strerror", None) or str(e) or type(e).__name__
    finally:
        conn.close()


def health_url(w: Wizard) -> str:
    return w.gateway.health if w.gateway else f"tcp://127.0.0.1:{w.port}"


class GatewayStatus(NamedTuple):
    wizard: str
    configured: bool
    healthy: bool
    #: "up", "unhealthy" (our process runs, health fails), "down", "none" (no gateway configured)
    state: str
    pid: int | None
    detail: str
    stale_pid_file: bool = False
    port: int | None = None

    def to_dict(self) -> dict:
        return {"wizard": self.wizard, "port": self.port, "state": self.state, "healthy": self.healthy, "pid": self.pid,
                "detail": self.detail, "stale_pid_file": self.stale_pid_file}


def gateway_status(w: Wizard) -> GatewayStatus:
    return _gateway_status(w)._replace(port=w.port)


def _gateway_status(w: Wizard) -> GatewayStatus:
    if w.gateway is None:
        return GatewayStatus(w.name, False, False, "none", None, "no gateway configured")
    pstate, pf = pid_file_state(w)
    healthy, seen = probe(w.gateway.health)
    pid = pf.pid if pstate == "running" and pf else None
    stale = pstate == "stale"
    if healthy:
        detail = f"{w.gateway.health}: {seen}" + ("" if pid else " (not started by robe)")
        return GatewayStatus(w.name, True, True, "up", pid, detail, stale)
    if pid:
        return GatewayStatus(w.name, True, False, "unhealthy", pid, f"pid {pid} runs but {w.gateway.health}: {seen}")
    note = "; the pid file is stale (its process is gone or is another process)" if stale else ""
    return GatewayStatus(w.name, True, False, "down", None, f"{w.gateway.health}: {seen}{note}", stale)


# ---------------------------------------------------------------------------------------------
# Start and stop


def _gateway_env(w: Wizard) -> dict:
    env = dict(os.environ)
    # Variables from the caller's shell would override the home's config.yaml (Hermes applies
    # API_SERVER_* over it), and a key in the environment would shadow the home's .env.
    for k in ("API_SERVER_PORT", "API_SERVER_HOST", "API_SERVER_KEY", "API_SERVER_ENABLED"):
        env.pop(k, None)
    env["HERMES_HOME"] = w.home
    env["ROBE_WIZARD"] = w.name
    env["ROBE_PORT"] = str(w.port)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_gateway(w: Wizard, *, timeout: float = START_TIMEOUT, now=time.monotonic) -> GatewayStatus:
    """Run the gateway detached and wait for its health check; FleetError if it does not come up."""
    if w.gateway is None:
        raise FleetError(f"wizard {w.name} has no gateway; add 'gateway: {{start: [...]}}' to it in fleet.yaml")
    running = gateway_process(w)
    if running:
        st = gateway_status(w)
        if st.healthy:
            return st
        raise FleetError(f"wizard {w.name}'s gateway (pid {running.pid}) runs but is not healthy: {st.detail}; "
                         f"see {w.gateway_log}, or restart it with 'robe gateway stop --wizard {w.name}' and start")
    healthy, seen = probe(w.gateway.health)
    if healthy:  # started by hand (start-gateway.sh) or by another supervisor: up is up
        return GatewayStatus(w.name, True, True, "up", None, f"{w.gateway.health}: {seen} (not started by robe)",
                             port=w.port)
    if port_in_use(w.port):
        raise FleetError(f"port {w.port} of wizard {w.name} is already held by {holder_pids_text(w.port)}; "
                         "stop that process, or give the wizard another port")
    if not os.path.isdir(w.home):
        raise FleetError(f"wizard {w.name} has no home at {w.home}; run 'robe init' to build missing houses")
    private_dir(w.logs_dir)
    argv = list(w.gateway.start)
    if argv[0] == "hermes":  # the same Hermes the executor runs ($ROBE_HERMES, else PATH's)
        argv[0] = hermes_program()
    log_fd = os.open(w.gateway_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(log_fd, f"\n--- robe gateway start: {' '.join(argv)}\n".encode())
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, cwd=w.house,
                                    env=_gateway_env(w), start_new_session=True, close_fds=True)
        except FileNotFoundError:
            raise FleetError(f"cannot start wizard {w.name}'s gateway: {argv[0]!r} was not found; install it or "
                             f"write its full path in gateway.start in fleet.yaml") from None
        except PermissionError:
            raise FleetError(f"cannot start wizard {w.name}'s gateway: {argv[0]!r} is not executable") from None
    finally:
        os.close(log_fd)
    _CHILDREN[proc.pid] = proc
    start_time = process_start_time(proc.pid)
    write_pid_file(w.pid_file, proc.pid, start_time or 0, argv)
    deadline = now() + timeout
    seen = ""
    while True:
        code = proc.poll()
        if code is not None:
            _CHILDREN.pop(proc.pid, None)
            _remove(w.pid_file)
            raise FleetError(f"wizard {w.name}'s gateway exited with code {code} before it was healthy; "
                             f"see {w.gateway_log}")
        healthy, seen = probe(w.gateway.health, timeout=min(PROBE_TIMEOUT, max(0.1, deadline - now())))
        if healthy:
            log.info("wizard %s: gateway up, pid %d", w.name, proc.pid)
            return GatewayStatus(w.name, True, True, "up", proc.pid, f"{w.gateway.health}: {seen}", port=w.port)
        if now() >= deadline:
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(5)
                _CHILDREN.pop(proc.pid, None)
            except subprocess.TimeoutExpired:
                pass
            _remove(w.pid_file)
            raise FleetError(f"wizard {w.name}'s gateway was not healthy within {timeout:g} s "
                             f"({w.gateway.health}: {seen}); it was stopped, see {w.gateway_log}")
        time.sleep(0.1)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def stop_gateway(w: Wizard, *, timeout: float = STOP_TIMEOUT) -> str:
    """SIGINT to the gateway's process group, wait, then SIGKILL. Returns what happened."""
    state, pf = pid_file_state(w)
    if state == "none":
        if w.gateway is not None and probe(w.gateway.health)[0]:
            return (f"no pid file, but a gateway robe did not start answers on port {w.port} "
                    f"({holder_pids_text(w.port)}); stop it where it was started")
        return "not running (no pid file)"
    if state == "stale" or pf is None:
        _remove(w.pid_file)
        return "not running (removed a stale pid file; its process was not touched)"
    _signal_group(pf.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_start_time(pf.pid) != pf.start_time:
            break
        _reap(pf.pid)
        time.sleep(0.05)
    else:
        _signal_group(pf.pid, signal.SIGKILL)
        for _ in range(100):
            _reap(pf.pid)
            if process_start_time(pf.pid) != pf.start_time:
                break
            time.sleep(0.05)
        _remove(w.pid_file)
        return f"killed pid {pf.pid} (it did not stop within {timeout:g} s of SIGINT)"
    _remove(w.pid_file)
    return f"stopped pid {pf.pid}"


def _reap(pid: int) -> None:
    """If the gateway is our own child (started in this process), collect it so it is not a zombie."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _CHILDREN[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _reap_children() -> None:
    for pid in list(_CHILDREN):
        _reap(pid)
