"""robe self-monitor: keep the fleet's shared services, gateways and executors alive.

One pass: check each shared service (http:// or tcp:// from fleet.yaml's ``services``) and
each wizard's gateway and executor; restart what is down (a service with its ``restart``
command, a gateway with the fleet's gateway start, an executor as ``robe execute --wizard W``
detached in its own session, output in ``logs/executor.log``); then append one uptime sample
per wizard and per service to ``logs/uptime.jsonl``:

    {"ts": ..., "wizard": "ezra", "service": null, "up": true, "detail": "..."}

``up`` is the state found *before* any restart (what the uptime metric must count); the
outcome of a restart is in ``detail`` and in ``restarted``. Wizard samples go to the
wizard's house, service samples to the house of the first wizard checked.

A wizard still Dead after the pass (its restarts failed, or ``--no-restart``) for fleet.yaml's
``alerts.dead_after`` minutes gets one alert (robe.fleet.alerts) for that stretch of being Dead.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field

from ..clock import stamp
from ..errors import RobeError
from ..fleet import alerts
from ..fleet.gateway import gateway_status, probe, start_gateway, stop_gateway
from ..fleet.status import DEAD, executor_liveness, state_of
from .schedule import robe_command

log = logging.getLogger("robe.cron.selfmonitor")
UPTIME_FILE = "uptime.jsonl"
RESTART_TIMEOUT = 60.0


@dataclass
class Check:
    wizard: str | None
    service: str | None
    up: bool
    detail: str
    restarted: bool = False
    #: after any restart: is it up now?
    up_now: bool = True
    parts: dict = field(default_factory=dict)

    def sample(self) -> dict:
        return {"ts": stamp(), "wizard": self.wizard, "service": self.service, "up": self.up, "detail": self.detail}

    def to_dict(self) -> dict:
        d = self.sample()
        d.update({"restarted": self.restarted, "up_now": self.up_now, **self.parts})
        return d


def _wait(check, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def check_service(svc, *, restart: bool = True, wait: float = 10.0) -> Check:
    if not svc.check:
        return Check(None, svc.name, True, "no check configured")
    up, seen = probe(svc.check)
    c = Check(None, svc.name, up, f"{svc.check}: {seen}")
    if up:
        return c
    c.up_now = False
    if restart and svc.restart:
        try:
            r = subprocess.run(list(svc.restart), stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=RESTART_TIMEOUT)
            c.restarted = True
            if r.returncode != 0:
                c.detail += f"; restart {' '.join(svc.restart)} exited {r.returncode}"
        except (OSError, subprocess.TimeoutExpired) as e:
            c.detail += f"; restart {' '.join(svc.restart)} failed: {getattr(e, 'strerror', None) or e}"
        c.up_now = _wait(lambda: probe(svc.check)[0], wait)
        c.detail += "; up after restart" if c.up_now else "; still down after restart"
    elif not svc.restart:
        c.detail += "; no restart command configured"
    return c


def start_executor(fleet, w) -> int:
    """``robe execute --wizard W`` detached (own session, survives this process); its pid."""
    os.makedirs(w.logs_dir, mode=0o700, exist_ok=True)
    env = dict(os.environ, ROBE_FLEET=fleet.path)
    fd = os.open(os.path.join(w.logs_dir, "executor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"\n--- {stamp()} robe self-monitor: starting the executor\n".encode())
        p = subprocess.Popen(robe_command() + ["execute", "--fleet", fleet.path, "--wizard", w.name],
                             stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=w.house, env=env,
                             start_new_session=True, close_fds=True)
    finally:
        os.close(fd)
    return p.pid


def check_wizard(fleet, w, *, restart: bool = True, wait: float = 10.0) -> Check:
    notes = []
    up = True
    up_now = True
    restarted = False
    parts = {}
    if w.gateway is not None:
        gs = gateway_status(w)
        parts["gateway_up"] = gs.healthy
        if not gs.healthy:
            up = False
            notes.append(f"gateway {gs.state} ({gs.detail})")
            if restart:
                restarted = True
                try:
                    if gs.state == "unhealthy":
                        stop_gateway(w)
                    st = start_gateway(w)
                    notes.append(f"gateway restarted (pid {st.pid})")
                except RobeError as e:
                    up_now = False
                    notes.append(f"gateway restart failed: {e}")
            else:
                up_now = False
        else:
            notes.append("gateway up")
    ex = executor_liveness(w)
    parts["executor_up"] = ex.alive
    if not ex.alive:
        up = False
        notes.append(f"executor down ({ex.detail})")
        if restart:
            restarted = True
            pid = start_executor(fleet, w)
            if _wait(lambda: executor_liveness(w).alive, wait):
                notes.append(f"executor restarted (pid {pid})")
            else:
                up_now = False
                notes.append(f"executor restart failed (pid {pid}; see {os.path.join(w.logs_dir, 'executor.log')})")
        else:
            up_now = False
    else:
        notes.append("executor up")
    return Check(w.name, None, up, "; ".join(notes), restarted, up_now, parts)


def append_samples(path: str, checks: list[Check]) -> None:
    if not checks:
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    data = "".join(json.dumps(c.sample(), ensure_ascii=False) + "\n" for c in checks).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)  # one write: lines from two runs never interleave
    finally:
        os.close(fd)


def _dead_now(w, c: Check) -> bool:
    """Whether the wizard is still Dead after this pass's restarts."""
    if c.parts.get("executor_up") or c.parts.get("gateway_up"):
        return False  # it was not Dead when checked
    if c.up_now:
        return False  # both came back
    g = gateway_status(w).healthy if w.gateway is not None else None
    return state_of(g, executor_liveness(w).alive) == DEAD


def _alert_dead(fleet, wizards, checks: list[Check]) -> None:
    if not fleet.alerts or "dead" not in fleet.alerts.on:
        return
    found, holds = {}, {}
    for w, c in zip(wizards, checks):
        found[f"dead:{w.name}"] = (w.name, c)
        holds[f"dead:{w.name}"] = _dead_now(w, c)
    limit = _dt.timedelta(minutes=fleet.alerts.dead_after)

    def make(subject, since, at):
        name, c = found[subject]
        return alerts.dead(name, since, at, c.detail) if at - since >= limit else None

    alerts.notify(fleet, conditions=holds, make=make)


def self_monitor(fleet, wizards=None, *, services: bool | None = None, restart: bool = True,
                 wait: float = 10.0) -> list[Check]:
    """One pass over services and wizards; the checks, samples already appended.

    ``services`` None: check them when every wizard is checked (no ``wizards`` given).
    """
    selected = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    if services is None:
        services = not wizards
    checks: list[Check] = []
    svc_checks = [check_service(s, restart=restart, wait=wait) for s in fleet.services] if services else []
    for w in selected:
        c = check_wizard(fleet, w, restart=restart, wait=wait)
        checks.append(c)
        append_samples(os.path.join(w.logs_dir, UPTIME_FILE), [c])
        (log.info if c.up else log.warning)("wizard %s: %s", w.name, c.detail)
    _alert_dead(fleet, selected, checks)
    if svc_checks:
        target = selected[0].logs_dir if selected else os.path.join(fleet.folder, "logs")
        append_samples(os.path.join(target, UPTIME_FILE), svc_checks)
        for c in svc_checks:
            (log.info if c.up else log.warning)("service %s: %s", c.service, c.detail)
    return svc_checks + checks
