"""Ports: which are free on this machine, who holds one, and the next one to hand out.

A port counts as taken when a wizard of the fleet holds it or when anything on the machine
listens on it. "Listens" is checked three ways, because each alone misses a case: binding
127.0.0.1:port (fails for a listener on 127.0.0.1 or 0.0.0.0), connecting to it, and the
kernel's table of listening sockets in /proc/net/tcp{,6} (a listener on another address).
"""

from __future__ import annotations

import errno
import os
import socket

from .model import FleetConfig, FleetError, Wizard

LOOPBACK = "127.0.0.1"


def _bind_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: a socket of a stopped gateway in TIME_WAIT does not make the port busy,
        # while a live listener still makes bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, port))
        return True
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return False
        raise
    finally:
        s.close()


def _connects(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def listening_inodes(port: int) -> list[int]:
    """Socket inodes listening on ``port`` on any address, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 10 or parts[3] != "0A":  # 0A: LISTEN
                        continue
                    if int(parts[1].rsplit(":", 1)[1], 16) == port:
                        found.append(int(parts[9]))
        except OSError:
            continue
    return found


def listener_pids(port: int) -> list[int]:
    """Pids of processes (that we may inspect) holding a listening socket on ``port``."""
    inodes = {f"socket:[{i}]" for i in listening_inodes(port)}
    if not inodes:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") in inodes:
                        pids.append(int(entry))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return pids


def port_in_use(port: int) -> bool:
    """Is anything on this machine listening on ``port``?"""
    return bool(listening_inodes(port)) or not _bind_free(port) or _connects(port)


def holder(fleet: FleetConfig, port: int, *, exclude: str | None = None) -> str | None:
    """Who holds ``port``: "wizard NAME", "another process (pid N, comm)", or None if free."""
    for w in fleet.wizards:
        if w.port == port and w.name != exclude:
            return f"wizard {w.name}"
    if port_in_use(port):
        pids = listener_pids(port)
        if pids:
            return f"another process (pid {pids[0]}, {process_name(pids[0])})"
        return "another process"
    return None


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def choose_port(fleet: FleetConfig, wanted: int | None = None, *, name: str | None = None) -> int:
    """``wanted`` if free (else FleetError naming the holder), or the lowest free port in range."""
    first, last = fleet.ports
    if wanted is not None:
        if not 1024 <= wanted <= 65535:
            raise FleetError(f"port {wanted} is not usable; pick a port between 1024 and 65535")
        if not first <= wanted <= last:
            raise FleetError(f"port {wanted} is outside the fleet's range {first}-{last}; pick one inside it, "
                             f"or widen 'ports' in {fleet.path}")
        who = holder(fleet, wanted, exclude=name)
        if who:
            raise FleetError(f"port {wanted} is already taken by {who}; pick another with --port, "
                             "or leave --port out and robe picks a free one")
        return wanted
    held = {w.port for w in fleet.wizards}
    for port in range(first, last + 1):
        if port not in held and not port_in_use(port):
            return port
    raise FleetError(f"every port in the fleet's range {first}-{last} is taken; widen 'ports' in {fleet.path}")


def wizard_on(fleet: FleetConfig, port: int) -> Wizard | None:
    for w in fleet.wizards:
        if w.port == port:
            return w
    return None


def holder_pids_text(port: int) -> str:
    """"pid N (comm)" for the process listening on ``port``, or "another process"."""
    pids = listener_pids(port)
    if pids:
        return f"pid {pids[0]} ({process_name(pids[0])})"
    return "another process"
