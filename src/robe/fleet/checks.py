"""'robe doctor': the seed's troubleshooting table as checks, each OK, WARN or FAIL with its fix.

| seed problem                    | checks here                                                    |
|---------------------------------|----------------------------------------------------------------|
| Port conflict                   | two wizards on one port; a port held by a process that is not  |
|                                 | the wizard's gateway; fleet.yaml vs the home's config.yaml     |
| Gateway not starting            | gateway down (with its log), stale pid file, missing key       |
| Tasks not dispatching           | queue validation errors (cron entries: with the cron issue)    |
| Memory shared between wizards   | homes that resolve to one folder or nest; memories/ links      |
| (security)                      | houses/homes looser than 0700, .env looser than 0600           |
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import yaml

from ..queue import QueueError, load
from .config import load_fleet
from .gateway import gateway_process, gateway_status, process_session
from .homes import KEY_NAME, read_env
from .model import FleetConfig, FleetError, FleetProblem, Wizard
from .ports import listener_pids, port_in_use, process_name
from .validate import inside

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    level: str
    subject: str  # a wizard's name, or "fleet"
    name: str     # what was checked: config, ports, home, permissions, queue, gateway
    message: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"level": self.level, "subject": self.subject, "check": self.name, "message": self.message,
                "fix": self.fix}


def _mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _read_yaml(path: str):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def check_fleet(fleet_path: str | None = None, cwd: str | None = None) -> list[Check]:
    problems: list[FleetProblem] = []
    try:
        fleet = load_fleet(fleet_path, cwd, problems)
    except FleetError as e:
        return [Check(FAIL, "fleet", "config", str(e), "fix fleet.yaml as the message says, then run 'robe doctor' again")]
    checks = [Check(OK, "fleet", "config", f"{fleet.path} is valid ({len(fleet.wizards)} wizards)")] if not problems \
        else []
    for p in problems:
        kind = "ports" if p.key.endswith(".port") else "home"
        checks.append(Check(FAIL, p.key.split(".")[1], kind, f"{p.path}:{p.line}: {p.message}", p.fix))
    for w in fleet.wizards:
        if fleet.host != fleet.hub and not fleet.runs_here(w):
            continue  # a joined machine holds only the houses of its own wizards
        checks += check_wizard(fleet, w)
    return checks


def check_wizard(fleet: FleetConfig, w: Wizard) -> list[Check]:
    out: list[Check] = []
    out += _permissions(w)
    out += _home_isolation(fleet, w)
    out += _config_port(w)
    out += _port_holder(w)
    out += _gateway(w)
    out += _queue(fleet, w)
    return out


def _permissions(w: Wizard) -> list[Check]:
    out = []
    for label, path in (("house", w.house), ("home", w.home)):
        m = _mode(path)
        if m is None:
            out.append(Check(FAIL, w.name, "permissions", f"the {label} {path} does not exist",
                             "run 'robe init' to build missing houses"))
        elif m & 0o077:
            out.append(Check(FAIL, w.name, "permissions", f"the {label} {path} has mode {m:04o}, readable by others",
                             f"chmod 700 {path}"))
        else:
            out.append(Check(OK, w.name, "permissions", f"the {label} is {m:04o}"))
    m = _mode(w.env_file)
    if m is None:
        if w.agent.kind == "hermes":
            out.append(Check(WARN, w.name, "permissions", f"{w.env_file} is missing, so the api_server has no key "
                             "and Hermes will not start it", "run 'robe init' to write a fresh key"))
    elif m & 0o077:
        out.append(Check(FAIL, w.name, "permissions", f"{w.env_file} has mode {m:04o}; it holds the api_server key",
                         f"chmod 600 {w.env_file}"))
    else:
        key = read_env(w.env_file).get(KEY_NAME, "")
        if len(key) < 16:
            out.append(Check(FAIL, w.name, "permissions", f"{KEY_NAME} in {w.env_file} is missing or shorter than "
                             "16 characters; Hermes refuses to start the api_server",
                             f"delete {w.env_file} and run 'robe init' to write a fresh key"))
        else:
            out.append(Check(OK, w.name, "permissions", f".env is {m:04o} with a {len(key)}-character key"))
    return out


def _home_isolation(fleet: FleetConfig, w: Wizard) -> list[Check]:
    out = []
    mem = os.path.join(w.home, "memories")
    real_mem = os.path.realpath(mem)
    for o in fleet.wizards:
        if o.name == w.name:
            continue
        other_home = os.path.realpath(o.home)
        if os.path.exists(mem) and inside(real_mem, other_home):
            out.append(Check(FAIL, w.name, "home", f"{mem} leads into wizard {o.name}'s home ({real_mem}), "
                             "so the two share memories",
                             f"remove the link and give {w.name} its own memories/: rm {mem} && mkdir -m 700 {mem}"))
    if not out:
        out.append(Check(OK, w.name, "home", f"its home {w.home} is its own"))
    return out


def _config_port(w: Wizard) -> list[Check]:
    if not os.path.exists(w.config_file):
        level = WARN if w.agent.kind == "hermes" else OK
        return [Check(level, w.name, "config.yaml", f"{w.config_file} is missing",
                      "run 'robe init' to write it" if level == WARN else "")]
    try:
        cfg = _read_yaml(w.config_file) or {}
        extra = cfg["platforms"]["api_server"]["extra"]
        port = extra.get("port")
        host = extra.get("host", "127.0.0.1")
    except Exception:  # any shape problem: a person edited it; say what robe expects
        return [Check(FAIL, w.name, "config.yaml", f"{w.config_file} has no platforms.api_server.extra.port",
                      f"set platforms.api_server.extra.port: {w.port} there (and host: 127.0.0.1)")]
    out = []
    if port != w.port:
        out.append(Check(FAIL, w.name, "config.yaml", f"{w.config_file} says port {port} but fleet.yaml says {w.port}; "
                         "Hermes would listen where robe does not look",
                         f"set platforms.api_server.extra.port: {w.port} in {w.config_file} "
                         "(or change the wizard's port in fleet.yaml to match)"))
    else:
        out.append(Check(OK, w.name, "config.yaml", f"api_server port {port} matches fleet.yaml"))
    if host not in ("127.0.0.1", "localhost", "::1"):
        out.append(Check(WARN, w.name, "config.yaml", f"the api_server binds {host}, not loopback",
                         f"set platforms.api_server.extra.host: 127.0.0.1 in {w.config_file} unless you mean it"))
    key = extra.get("key")
    if key:
        env_key = read_env(w.env_file).get(KEY_NAME)
        if env_key and env_key != key:
            out.append(Check(WARN, w.name, "config.yaml", f"{w.config_file} has its own api_server key, different "
                             f"from {KEY_NAME} in .env (Hermes uses the .env one)",
                             f"delete platforms.api_server.extra.key from {w.config_file}"))
    return out


def _environ_home(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"HERMES_HOME="):
                    return item.split(b"=", 1)[1].decode(errors="replace")
    except OSError:
        return None
    return None


def _port_holder(w: Wizard) -> list[Check]:
    if not port_in_use(w.port):
        return [Check(OK, w.name, "ports", f"port {w.port} is free or held by its gateway")]
    gw = gateway_process(w)
    pids = listener_pids(w.port)
    if gw and (not pids or any(p == gw.pid or process_session(p) == gw.pid for p in pids)):
        return [Check(OK, w.name, "ports", f"port {w.port} is held by its gateway (pid {gw.pid})")]
    for p in pids:
        home = _environ_home(p)
        if home and os.path.realpath(home) == os.path.realpath(w.home):
            return [Check(WARN, w.name, "ports", f"port {w.port} is held by pid {p} ({process_name(p)}), this "
                          "wizard's gateway, but robe did not start it",
                          f"stop it and run 'robe gateway start --wizard {w.name}' so robe can supervise it")]
    who = f"pid {pids[0]} ({process_name(pids[0])})" if pids else "another process"
    return [Check(FAIL, w.name, "ports", f"port {w.port} is held by {who}, which is not this wizard's gateway",
                  f"stop that process (see: ss -ltnp 'sport = :{w.port}'), or give {w.name} another port "
                  "in fleet.yaml and its home's config.yaml")]


def _gateway(w: Wizard) -> list[Check]:
    if w.gateway is None:
        return [Check(OK, w.name, "gateway", "no gateway configured")]
    g = gateway_status(w)
    out = []
    if g.stale_pid_file:
        out.append(Check(WARN, w.name, "gateway", f"{w.pid_file} is stale (its process is gone or is another one)",
                         f"'robe gateway stop --wizard {w.name}' removes it without touching any process"))
    if g.healthy:
        out.append(Check(OK, w.name, "gateway", f"up ({g.detail})"))
    else:
        out.append(Check(WARN, w.name, "gateway", f"down: {g.detail}",
                         f"start it with 'robe gateway start --wizard {w.name}'; if it fails, read {w.gateway_log}"))
    return out


def _queue(fleet: FleetConfig, w: Wizard) -> list[Check]:
    if not os.path.exists(w.queue):
        return [Check(WARN, w.name, "queue", f"{w.queue} does not exist",
                      "create it (run 'robe init'), or point the wizard's queue: at an existing file")]
    try:
        q = load(w.queue, known_assignees=set(fleet.names))
    except QueueError as e:
        return [Check(FAIL, w.name, "queue", str(e), "fix the queue file")]
    errors = q.errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return [Check(FAIL, w.name, "queue", f"{first.path}:{first.line}: {first.message}{more}",
                      (first.hint or "fix that line") + f"; see all with 'robe queue validate -f {w.queue}'")]
    return [Check(OK, w.name, "queue", f"{w.queue} is valid ({len(q.tasks)} task{'' if len(q.tasks) == 1 else 's'})")]


def summary(checks: list[Check]) -> str:
    n = {lvl: sum(1 for c in checks if c.level == lvl) for lvl in (FAIL, WARN, OK)}
    return f"{n[FAIL]} FAIL, {n[WARN]} WARN, {n[OK]} OK"
