"""Wizard houses and homes: the folders, SOUL.md, the Hermes config.yaml, .env, start-gateway.sh.

Everything here creates what is missing and never overwrites what exists, so running it
again changes nothing and a person's edits to SOUL.md or config.yaml survive. Houses and
homes are 0700 and .env (the api_server key) is 0600: a home holds the agent's memories and
sessions, which another user on the machine must not read.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex

import yaml

from ..plumbing import atomic_write
from .model import FleetConfig, FleetError, Wizard

HOUSE_MODE = 0o700
SECRET_MODE = 0o600
KEY_NAME = "API_SERVER_KEY"
#: the seed's local default: a small Ollama model
DEFAULT_MODEL = "qwen2.5:1.5b"
DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"

EXAMPLE_QUEUE = """\
# WORK-QUEUE — {name}

robe dispatches the tasks below to the wizard {name}. A task is a heading, a list item or a
table row that starts with an ID; edit statuses by hand or with 'robe queue set'.

## P1 — Soon

### TASK-001: Introduce yourself
- Status: PENDING
- Assignee: {name}
- Tags: example

Write three sentences about who you are and what you are for, from your SOUL.md.

## P2 — Normal

- [ ] TASK-002 P2 PENDING List three improvements to this queue's wording

| ID | Priority | Status | Task | Assignee |
|----|----------|--------|------|----------|
| TASK-003 | P3 | BLOCKED | Unblock me when you want a third example run | {name} |
"""

EMPTY_QUEUE = """\
# WORK-QUEUE — {name}

<!-- Tasks for {name}: headings, list items or table rows that start with an ID such as TASK-001. -->
"""


def make_private_dir(path: str) -> bool:
    """Create ``path`` (and parents) with mode 0700; True if it did not exist."""
    existed = os.path.isdir(path)
    os.makedirs(path, mode=HOUSE_MODE, exist_ok=True)
    if not existed:
        os.chmod(path, HOUSE_MODE)  # makedirs' mode is filtered through the umask
    return not existed


def write_new(path: str, text: str, mode: int = 0o644) -> bool:
    """Create ``path`` with ``text`` unless it exists; True if written. O_EXCL: never clobbers."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, mode)
        data = text.encode("utf-8")
        while data:
            n = os.write(fd, data)
            data = data[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def new_key() -> str:
    """A fresh api_server key: 43 URL-safe characters (256 bits); Hermes wants 16 or more."""
    return secrets.token_urlsafe(32)


def read_env(path: str) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blanks ignored, simple quotes stripped)."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, v = line.split("=", 1)
                k = k.strip().removeprefix("export ").strip()
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                    v = v[1:-1]
                out[k] = v
    except OSError:
        pass
    return out


def env_text(w: Wizard, key: str, model_key: tuple[str, str] | None = None) -> str:
    """The home's .env: the api_server's key and, with ``model_key`` (name, value), the model's."""
    text = (f"# Written by robe for wizard {w.name}. Hermes reads this file from HERMES_HOME when it starts.\n"
            f"# {KEY_NAME} is the Bearer key of the wizard's api_server (127.0.0.1:{w.port}); keep it secret.\n"
            f"{KEY_NAME}={key}\n")
    if model_key:
        text += model_key_lines(*model_key)
    return text


def model_key_lines(name: str, value: str) -> str:
    return f"# {name} is the model's API key (config.yaml and fleet.yaml name it, never hold it).\n{name}={value}\n"


def set_env_key(path: str, name: str, value: str) -> None:
    """Set ``name`` in the .env at ``path`` (0600): its line is replaced, or the key is added;
    every other line stays."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    at = [i for i, ln in enumerate(lines)
          if ln.strip().removeprefix("export ").split("=", 1)[0].strip() == name and "=" in ln]
    if at:
        lines[at[0]] = f"{name}={value}\n"
        for i in reversed(at[1:]):  # one value only: a later line would win in Hermes' loader
            del lines[i]
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(model_key_lines(name, value))
    atomic_write(path, "".join(lines).encode("utf-8"), mode=SECRET_MODE)


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def soul_text(fleet: FleetConfig, w: Wizard) -> str:
    """The seed's House Charter: entity, lineage, placement, role, relationships."""
    siblings = [o.name for o in fleet.wizards if o.name != w.name]
    shares = ", ".join(siblings) if siblings else "no other wizard yet"
    codebase = f" ({fleet.codebase})" if fleet.codebase else ""
    lines = [
        f"# {_title(w.name)} House Charter",
        "",
        "Entity:",
        f"- {_title(w.name)}" + (f", {w.role}" if w.role else ", a wizard of this fleet"),
        f"- Lineage: {w.lineage}" if w.lineage else "- Lineage: first of its line in this fleet",
        "",
        "Canonical placement:",
        f"- HERMES_HOME={w.home}",
        f"- House: {w.house}",
        f"- api_server: 127.0.0.1:{w.port}",
        f"- Shares codebase{codebase} with {shares}",
        "",
        "Role:",
        f"- {w.role}" if w.role else "- Takes the tasks robe dispatches to it and answers each one in full.",
        "",
    ]
    rel = dict(w.relationships) or {
        "the fleet": f"Works the tasks of {w.queue}; its answers go to completed/ and robe folds them back.",
        "the Sovereign": "Serves the person who writes WORK-QUEUE.md; asks in its answer when a task is unclear.",
    }
    for who, how in rel.items():
        lines += [f"Relationship to {who}:", f"- {how}", ""]
    return "\n".join(lines)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def mcp_entry(command: list[str], fleet_path: str, wizard: str) -> dict:
    """robe's MCP server as a Hermes config.yaml lists it under ``mcp_servers``: ``robe mcp`` for
    this fleet, acting as this wizard. Hermes fills in ``${ROBE_TASK_ID}`` from its own
    environment (the executor sets it), so a question asked inside a task knows its task."""
    args = [*command[1:], "mcp", "--fleet", os.path.abspath(fleet_path), "--as", wizard]
    return {"command": command[0], "args": args,
            "env": {"ROBE_WIZARD": wizard, "ROBE_TASK_ID": "${ROBE_TASK_ID}"},
            # ask_wizard may wait up to 900 s for an answer; Hermes' own default is 300 s a call
            "timeout": 960, "connect_timeout": 60}


def hermes_config(w: Wizard, mcp: dict | None = None) -> dict:
    """The home's config.yaml for Hermes: the model, the api_server on the wizard's port, and
    robe's MCP server (``mcp``: an entry from ``mcp_entry``) when given.

    The api_server's key is not in here: Hermes loads HERMES_HOME/.env and puts API_SERVER_KEY
    into platforms.api_server.extra.key, so the secret lives in one 0600 file only.
    """
    a = w.agent
    model: dict = {"default": a.model or DEFAULT_MODEL, "provider": a.provider or "custom"}
    base_url = a.base_url or (DEFAULT_BASE_URL if model["provider"] == "custom" else None)
    if base_url:
        model["base_url"] = base_url
    if a.context_length:
        model["context_length"] = a.context_length
    if a.api_key_env:  # a reference Hermes fills in from the home's .env: the key itself lives there only
        model["api_key"] = "${" + a.api_key_env + "}"
    cfg = {
        "model": model,
        "platforms": {"api_server": {"enabled": True, "extra": {"host": "127.0.0.1", "port": w.port}}},
        "memory": {"memory_enabled": True, "user_profile_enabled": True},
    }
    if mcp is not None:
        cfg["mcp_servers"] = {"robe": mcp}
    cfg = _merge(cfg, a.config or {})
    # Whatever agent.config says, the port and loopback binding are the fleet's.
    cfg = _merge(cfg, {"platforms": {"api_server": {"enabled": True, "extra": {"host": "127.0.0.1", "port": w.port}}}})
    return cfg


def config_text(w: Wizard, mcp: dict | None = None, cfg: dict | None = None) -> str:
    head = (f"# Hermes config for wizard {w.name}, written by robe. platforms.api_server.extra.port must equal\n"
            f"# the wizard's port in fleet.yaml ({w.port}); 'robe doctor' checks it. The api_server key is in .env.\n"
            "# robe owns model.default, provider, base_url, context_length, api_key and the api_server's host and\n"
            "# port: 'robe wizard set' rewrites those from fleet.yaml and keeps every other key.\n")
    body = hermes_config(w, mcp) if cfg is None else cfg
    return head + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)


#: the model settings in config.yaml that fleet.yaml decides (robe rewrites them)
OWNED_MODEL_KEYS = ("default", "provider", "base_url", "context_length")


def regenerated_config(w: Wizard, existing: dict) -> dict:
    """``existing`` (the home's config.yaml) with the parts robe owns made to agree with
    fleet.yaml again: the model's name, provider, base URL, context length and key reference,
    the api_server's host and port, and fleet.yaml's agent.config. Every other key stays."""
    fresh = hermes_config(w)
    model = dict(existing.get("model") or {}) if isinstance(existing.get("model"), dict) else {}
    for k in OWNED_MODEL_KEYS + ("api_key",):
        if k in fresh["model"]:
            model[k] = fresh["model"][k]
        elif k != "api_key" or _is_reference(model.get(k)):
            model.pop(k, None)  # (a key a person wrote in by hand is theirs; robe doctor flags it)
    cfg = dict(existing)
    cfg["model"] = model
    cfg = _merge(cfg, dict(w.agent.config or {}))
    return _merge(cfg, {"platforms": fresh["platforms"]})


def _is_reference(value) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value))


def rewrite_config(w: Wizard) -> str:
    """Regenerate the parts of the home's config.yaml robe owns (``regenerated_config``),
    atomically, 0600; the path."""
    try:
        with open(w.config_file, encoding="utf-8") as f:
            existing = yaml.safe_load(f) or {}
    except FileNotFoundError:
        existing = {}
    except yaml.YAMLError as e:
        raise FleetError(f"{w.config_file} is not valid YAML ({e.__class__.__name__}); fix it by hand, or move it "
                         "away and run 'robe init' to write a fresh one") from None
    if not isinstance(existing, dict):
        raise FleetError(f"{w.config_file} is not a mapping; move it away and run 'robe init' to write a fresh one")
    atomic_write(w.config_file, config_text(w, cfg=regenerated_config(w, existing)).encode("utf-8"),
                 mode=SECRET_MODE)
    return w.config_file


def start_script_text(w: Wizard) -> str:
    argv = w.gateway.start if w.gateway else ("hermes", "gateway", "run")
    return (
        "#!/bin/sh\n"
        f"# Start wizard {w.name}'s gateway in the foreground. 'robe gateway start --wizard {w.name}'\n"
        "# runs the same command detached, with its output in logs/gateway.log.\n"
        "# API_SERVER_* from your shell would override the home's config.yaml: drop them.\n"
        "unset API_SERVER_PORT API_SERVER_HOST API_SERVER_KEY\n"
        f"export HERMES_HOME={shlex.quote(w.home)}\n"
        f"cd {shlex.quote(w.house)} || exit 1\n"
        f"exec {' '.join(shlex.quote(a) for a in argv)}\n"
    )


def ensure_house(fleet: FleetConfig, w: Wizard, *, soul: str | None = None, example_queue: bool = False,
                 mcp_command: list[str] | None = None, model_key: tuple[str, str] | None = None) -> list[str]:
    """Create whatever of the wizard's house is missing; the paths created, in order. With
    ``mcp_command`` (the argv that runs robe), a new Hermes config.yaml lists robe's MCP server;
    ``model_key`` (name, value) goes into a new .env beside the api_server's key."""
    created: list[str] = []
    for d in (w.house, w.home, w.work_dir, w.completed_dir, w.logs_dir, w.reports_dir):
        if make_private_dir(d):
            created.append(d + "/")
    if write_new(w.soul_file, soul if soul is not None else soul_text(fleet, w)):
        created.append(w.soul_file)
    mcp = mcp_entry(mcp_command, fleet.path, w.name) if mcp_command and w.agent.kind == "hermes" else None
    if write_new(w.config_file, config_text(w, mcp), SECRET_MODE):
        created.append(w.config_file)
    if write_new(w.env_file, env_text(w, new_key(), model_key), SECRET_MODE):
        created.append(w.env_file)
    if w.gateway is not None and write_new(w.start_script, start_script_text(w), 0o700):
        created.append(w.start_script)
    if os.path.dirname(w.queue) == w.house and not os.path.exists(w.queue):
        if write_new(w.queue, (EXAMPLE_QUEUE if example_queue else EMPTY_QUEUE).format(name=w.name)):
            created.append(w.queue)
    return created


def house_is_empty(w: Wizard) -> bool:
    try:
        return not os.listdir(w.house)
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False


def clone_soul(src: Wizard, w: Wizard) -> str | None:
    """The source wizard's SOUL.md with its paths and title moved to the new wizard."""
    try:
        with open(src.soul_file, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # One pass, longest first, whole paths only: the house is a prefix of the home, and the new
    # house may extend the old one's name (ezra -> ezra-two).
    moves = {src.home: w.home, src.house: w.house, f"127.0.0.1:{src.port}": f"127.0.0.1:{w.port}"}
    pattern = "|".join(re.escape(k) for k in sorted(moves, key=len, reverse=True))
    text = re.sub(f"(?:{pattern})(?![\\w.-])", lambda m: moves[m.group(0)], text)
    old, new = _title(src.name), _title(w.name)
    text = re.sub(rf"^# {re.escape(old)} House Charter$", f"# {new} House Charter", text, count=1, flags=re.M)
    text = re.sub(rf"^- {re.escape(old)}(?=,|$)", f"- {new}", text, count=1, flags=re.M)
    return text
