"""'robe doctor': the seed's troubleshooting table as checks, each OK, WARN or FAIL with its fix.

| seed problem                    | checks here                                                    |
|---------------------------------|----------------------------------------------------------------|
| Port conflict                   | two wizards on one port; a port held by a process that is not  |
|                                 | the wizard's gateway; fleet.yaml vs the home's config.yaml     |
| Gateway not starting            | gateway down (with its log), stale pid file, missing key       |
| Tasks not dispatching           | queue validation errors (cron entries: with the cron issue)    |
| Memory shared between wizards   | homes that resolve to one folder or nest; memories/ links      |
| (security)                      | houses/homes looser than 0700, .env looser than 0600, a key    |
|                                 | written out in config.yaml                                     |
| A run that cannot work          | the agent's program on PATH (hermes: its version), the model   |
|                                 | endpoint's /v1/models, config.yaml against fleet.yaml (model,  |
|                                 | base_url, context_length, port), Hermes' context >= 64K        |
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from ..queue import QueueError, load
from .config import load_fleet
from .gateway import gateway_process, gateway_status, hermes_program, process_session
from .homes import KEY_NAME, hermes_config, read_env
from .model import HERMES_MIN_CONTEXT, FleetConfig, FleetError, FleetProblem, Wizard, secret_settings
from .ports import listener_pids, port_in_use, process_name
from .validate import inside

OK, WARN, FAIL = "OK", "WARN", "FAIL"
#: seconds a model endpoint has to answer GET /models (a local server answers at once)
ENDPOINT_TIMEOUT = 3.0
#: seconds 'hermes --version' may take
VERSION_TIMEOUT = 15.0


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
    out += _config_model(w)
    out += _agent_program(w)
    out += _model(w)
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


def _config_model(w: Wizard) -> list[Check]:
    """A Hermes home's config.yaml says what fleet.yaml says about the model, and holds no key."""
    if w.agent.kind != "hermes" or not os.path.exists(w.config_file):
        return []
    try:
        cfg = _read_yaml(w.config_file) or {}
        model = cfg.get("model") if isinstance(cfg, dict) else None
    except (OSError, yaml.YAMLError):
        return []  # (the port check above has said what is wrong with the file)
    model = model if isinstance(model, dict) else {}
    want = hermes_config(w)["model"]
    out = []
    for key in ("default", "provider", "base_url", "context_length"):
        if model.get(key) != want.get(key):
            label = "model" if key == "default" else key
            out.append(Check(FAIL, w.name, "config.yaml", f"{w.config_file} says {label} {model.get(key)!r} but "
                             f"fleet.yaml says {want.get(key)!r}; Hermes would use the config.yaml one",
                             f"run 'robe wizard set {w.name}' to write fleet.yaml's model settings into config.yaml "
                             f"(its other keys stay), or 'robe wizard set {w.name} {label}=...' to change both"))
    for dotted in secret_settings(cfg if isinstance(cfg, dict) else {}):
        out.append(Check(FAIL, w.name, "config.yaml", f"{w.config_file} holds a key written out ({dotted})",
                         f"move it into the home's .env: printf %s \"$KEY\" | robe wizard set {w.name} --api-key - "
                         f"(config.yaml then names it as ${{NAME}}); delete {dotted} if it stays"))
    if not out:
        out.append(Check(OK, w.name, "config.yaml", "model, provider, base_url and context_length match fleet.yaml"))
    return out


@functools.lru_cache(maxsize=8)
def _version(path: str, mtime: float) -> tuple[int | None, str]:
    """(exit code, first line of output) of ``path --version`` (None: it did not finish)."""
    del mtime  # (part of the cache key: a reinstalled program is asked again)
    try:
        p = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=VERSION_TIMEOUT, errors="replace")
    except subprocess.TimeoutExpired:
        return None, f"it did not answer within {VERSION_TIMEOUT:g} s"
    except OSError as e:
        return 126, e.strerror or str(e)
    text = (p.stdout.strip() or p.stderr.strip()).splitlines()
    return p.returncode, text[0].strip() if text else ""


def _agent_program(w: Wizard) -> list[Check]:
    """The program the wizard's agent runs is there (and, for hermes, answers --version)."""
    kind = w.agent.kind
    if kind == "hermes":
        name = hermes_program()
        path = shutil.which(name)
        if path is None:
            return [Check(FAIL, w.name, "agent", f"{name} is not on PATH (and ROBE_HERMES is not set), so no task "
                          "of this hermes wizard can run",
                          "install Hermes in a virtualenv of its own (python3 -m venv ~/hermes-venv && "
                          "~/hermes-venv/bin/pip install hermes-agent aiohttp), then put ~/hermes-venv/bin on PATH "
                          "or export ROBE_HERMES=~/hermes-venv/bin/hermes")]
        code, line = _version(path, os.stat(path).st_mtime)
        if code != 0:
            return [Check(FAIL, w.name, "agent", f"{path} --version failed ({line or f'exit code {code}'})",
                          f"reinstall hermes-agent in its virtualenv ({os.path.dirname(path)}/pip install -U "
                          "hermes-agent aiohttp)")]
        return [Check(OK, w.name, "agent", f"hermes at {path}: {line}")]
    if kind == "command":
        prog = w.agent.argv[0]
        path = shutil.which(prog)
        if path is None:
            return [Check(FAIL, w.name, "agent", f"the agent's program {prog!r} is not found (or not executable)",
                          "install it, or write its full path as the first word of agent.argv in fleet.yaml")]
        return [Check(OK, w.name, "agent", f"the agent's program is {path}")]
    return [Check(OK, w.name, "agent", f"the {kind} agent needs no program")]


def model_key(w: Wizard) -> str | None:
    """The model's key as the agent will find it: the environment, else the home's .env."""
    name = w.agent.api_key_env
    return (os.environ.get(name) or read_env(w.env_file).get(name)) if name else None


def _endpoint(w: Wizard) -> str | None:
    if w.agent.kind == "openai":
        return w.agent.base_url
    if w.agent.kind == "hermes":
        return hermes_config(w)["model"].get("base_url")
    return None


def _model(w: Wizard) -> list[Check]:
    """The model endpoint answers GET {base_url}/models, lists the model, and (for Hermes) has
    the context it needs."""
    base = _endpoint(w)
    if base is None:
        return []
    if w.agent.api_key_env and not model_key(w):
        return [Check(FAIL, w.name, "model", f"fleet.yaml names the model's key {w.agent.api_key_env}, but neither "
                      f"the environment nor {w.env_file} has it",
                      f"give it: printf %s \"$KEY\" | robe wizard set {w.name} --api-key -")]
    url = base.rstrip("/") + "/models"
    own = _own_port(base) == w.port
    data, problem = _get_json(url, model_key(w) if not own else read_env(w.env_file).get(KEY_NAME))
    if problem:
        if own:
            return [Check(WARN, w.name, "model", f"its own gateway does not answer at {url} ({problem})",
                          f"'robe dispatch' starts it; or start it now with 'robe gateway start --wizard {w.name}'")]
        return [Check(FAIL, w.name, "model", f"the model endpoint {url} does not answer ({problem})", _fix(w, problem))]
    entries = [d for d in (data or {}).get("data", []) if isinstance(d, dict)] if isinstance(data, dict) else []
    names = [str(d.get("id")) for d in entries]
    want = hermes_config(w)["model"]["default"] if w.agent.kind == "hermes" else w.agent.model
    out = [Check(OK, w.name, "model", f"{url} answers" + (f" and lists {want}" if want in names else ""))]
    if names and want not in names and not own:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        out = [Check(WARN, w.name, "model", f"{url} answers but does not list the model {want!r} (it lists {shown})",
                     f"'robe wizard set {w.name} model=NAME' with one it lists (Ollama: 'ollama pull {want}' "
                     "fetches it)")]
    if w.agent.kind == "hermes":
        out += _context(w, next((d for d in entries if str(d.get("id")) == want), None))
    return out


def _own_port(url: str) -> int | None:
    u = urlsplit(url)
    return u.port if u.hostname in ("127.0.0.1", "localhost", "::1") else None


def _get_json(url: str, key: str | None) -> tuple[object, str]:
    """(the JSON a GET of ``url`` answered, "") or (None, what went wrong)."""
    headers = {"Accept": "application/json", "User-Agent": "robe-doctor"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=ENDPOINT_TIMEOUT) as r:
            body = r.read(4 * 1024 * 1024)
    except urllib.error.HTTPError as e:
        e.close()
        return None, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, str(getattr(e, "reason", None) or e)
    try:
        return json.loads(body), ""
    except ValueError:
        return None, "it answered, but not with JSON"


def _fix(w: Wizard, problem: str) -> str:
    if problem in ("HTTP 401", "HTTP 403"):
        return f"give the right key: printf %s \"$KEY\" | robe wizard set {w.name} --api-key -"
    if problem.startswith("HTTP "):
        return (f"check the base URL (most servers want it to end in /v1): robe wizard set {w.name} "
                "base_url=http://HOST:PORT/v1")
    return (f"start the model server (Ollama: 'ollama serve'), or point the wizard at yours: robe wizard set {w.name} "
            "base_url=http://HOST:PORT/v1")


def _context(w: Wizard, entry: dict | None) -> list[Check]:
    """Hermes refuses a model context under 64K tokens: fleet.yaml's context_length, else what
    the endpoint says of the model."""
    ctx, where = w.agent.context_length, "fleet.yaml's"
    if ctx is None and entry:
        found = [entry.get(k) for k in ("context_length", "max_model_len", "context_window")]
        ctx = next((v for v in found if isinstance(v, int) and not isinstance(v, bool)), None)
        where = "the endpoint's"
    fix = (f"serve the model with at least 65536 tokens of context (Ollama: OLLAMA_CONTEXT_LENGTH=65536 ollama "
           f"serve) and say so: robe wizard set {w.name} context_length=65536")
    if ctx is None:
        return [Check(WARN, w.name, "context", "neither fleet.yaml nor the endpoint says the model's context "
                      f"length; Hermes needs at least {HERMES_MIN_CONTEXT:,} tokens", fix)]
    if ctx < HERMES_MIN_CONTEXT:
        return [Check(FAIL, w.name, "context", f"{where} context length is {ctx:,} tokens; Hermes refuses to run "
                      f"with less than {HERMES_MIN_CONTEXT:,}", fix)]
    return [Check(OK, w.name, "context", f"{where} context length is {ctx:,} tokens (Hermes needs "
                  f"{HERMES_MIN_CONTEXT:,})")]


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
