"""Creating, removing and initialising wizards: the operations behind 'robe init' and 'robe wizard'.

Order of a create: validate everything (name, port, the new fleet.yaml as a whole), build the
house, then register the wizard in fleet.yaml. If registering fails, the house just built is
removed again, so a refused create leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field

import yaml

from ..broker.client import Broker, password_for
from ..broker.hub import joined_fleet
from ..clock import stamp
from ..plumbing import atomic_write
from ..queue import QueueError, load
from .config import find_fleet_file, load_fleet, read_fleet_text
from .fleetfile import (
    add_wizard_text,
    fleet_lock,
    new_fleet_text,
    remove_wizard_text,
    set_wizard_text,
    write_fleet_text,
)
from .gateway import gateway_process
from .homes import clone_soul, ensure_house, house_is_empty, read_env, rewrite_config, set_env_key
from .model import (
    AGENT_KINDS,
    DEFAULT_KEY_ENV,
    ENV_NAME_RE,
    FILE_NAME,
    HERMES_MIN_CONTEXT,
    FleetConfig,
    FleetError,
    Wizard,
    is_valid_name,
    secret_advice,
    secret_settings,
)
from .ports import choose_port
from .validate import parse_fleet, this_machine

log = logging.getLogger(__name__)


@dataclass
class Created:
    fleet: FleetConfig
    wizard: Wizard
    paths: list[str] = field(default_factory=list)


def check_name(name: str) -> None:
    if not is_valid_name(name):
        raise FleetError(f"{name!r} is not a wizard name; use lower-case letters, digits and dashes, "
                         "starting with a letter (e.g. allegro-primus)")


def check_model(kind: str, context_length: int | None, hermes_config: dict | None) -> None:
    """Refuse what would break a run or leak a key: a Hermes context under 64K, a secret in
    the settings meant for config.yaml."""
    if kind == "hermes" and context_length is not None and context_length < HERMES_MIN_CONTEXT:
        raise FleetError(f"a context length of {context_length} is too small for Hermes, which needs at least "
                         f"{HERMES_MIN_CONTEXT:,} tokens; give --context-length 65536 or more, and serve the model "
                         "with that much (Ollama: OLLAMA_CONTEXT_LENGTH=65536 ollama serve)")
    for dotted in secret_settings(hermes_config or {}):
        raise FleetError(secret_advice(dotted))


def check_key_name(name: str | None) -> None:
    if name is not None and not ENV_NAME_RE.match(name):
        raise FleetError(f"{name!r} is not the name of an environment variable; use letters, digits and "
                         "underscores, e.g. MODEL_API_KEY")


def wizard_settings(name: str, port: int, *, agent: str = "hermes", model: str | None = None,
                    base_url: str | None = None, role: str | None = None, gateway_start: list[str] | None = None,
                    source: Wizard | None = None, context_length: int | None = None,
                    hermes_config: dict | None = None, command: list[str] | None = None,
                    api_key_env: str | None = None) -> dict:
    """The wizard's entry for fleet.yaml, in the order a person reads it."""
    settings: dict = {}
    if role or (source and source.role):
        settings["role"] = role or source.role
    if source and source.lineage:
        settings["lineage"] = source.lineage
    settings["port"] = port
    agent_d: dict = source.agent.to_dict() if source else {"kind": agent}
    if source and agent != source.agent.kind and agent != "hermes":
        agent_d = {"kind": agent}
    if agent not in AGENT_KINDS:
        raise FleetError(f"{agent!r} is not an agent kind; use one of: {', '.join(AGENT_KINDS)}")
    if model:
        agent_d["model"] = model
    if base_url:
        agent_d["base_url"] = base_url
    if context_length:
        agent_d["context_length"] = context_length
    if api_key_env:
        check_key_name(api_key_env)
        agent_d["api_key_env"] = api_key_env
    check_model(agent_d["kind"], agent_d.get("context_length"), hermes_config)
    if hermes_config:
        agent_d["config"] = _merge(agent_d.get("config") or {}, hermes_config)
    if agent_d["kind"] == "openai":
        agent_d.setdefault("base_url", "http://127.0.0.1:11434/v1")
        agent_d.setdefault("model", "qwen2.5:1.5b")
    if command:
        if agent_d["kind"] != "command":
            raise FleetError("--command is the command line of a command agent; add --agent command")
        agent_d["argv"] = list(command)
    if agent_d["kind"] == "command" and "argv" not in agent_d:
        raise FleetError("a command agent needs its command line; pass it with --command, e.g. "
                         "--command 'my-agent --prompt-file {prompt_file}'")
    settings["agent"] = agent_d
    if gateway_start:
        settings["gateway"] = {"start": list(gateway_start)}
    elif source and source.gateway and source.gateway.start != ("hermes", "gateway", "run"):
        settings["gateway"] = {"start": list(source.gateway.start)}
    elif agent_d["kind"] == "hermes":
        settings["gateway"] = {"start": ["hermes", "gateway", "run"]}
    return settings


def parse_settings(pairs) -> dict:
    """``["agent.environment_probe=false", ...]`` as a nested mapping (values read as YAML)."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip() or any(not part for part in key.split(".")):
            raise FleetError(f"{pair!r} is not KEY=VALUE; write e.g. agent.environment_probe=false")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise FleetError(f"{pair!r} sets a key under a value; give each key once")
        node[parts[-1]] = value
    return out


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def create_wizard(fleet_path: str | None, name: str, *, port: int | None = None, agent: str = "hermes",
                  model: str | None = None, base_url: str | None = None, role: str | None = None,
                  clone_from: str | None = None, gateway_start: list[str] | None = None,
                  context_length: int | None = None, hermes_config: dict | None = None,
                  command: list[str] | None = None, cwd: str | None = None, example_queue: bool = False,
                  mcp_command: list[str] | None = None, api_key_env: str | None = None,
                  api_key: str | None = None) -> Created:
    """``mcp_command``: the argv that runs robe; a Hermes wizard's config.yaml then lists robe's
    MCP server (``robe mcp --as NAME``), so its agent has the fleet's tools. ``api_key``: the
    model's key, written to the home's .env only, as ``api_key_env`` (default MODEL_API_KEY);
    fleet.yaml and config.yaml name it, never hold it."""
    check_name(name)
    path = find_fleet_file(fleet_path, cwd)
    load_fleet(path)  # a bad fleet.yaml is refused before anything (even the lock file) is written
    with fleet_lock(path):
        return _create_locked(path, name, port=port, agent=agent, model=model, base_url=base_url, role=role,
                              clone_from=clone_from, gateway_start=gateway_start, context_length=context_length,
                              hermes_config=hermes_config, command=command, example_queue=example_queue,
                              mcp_command=mcp_command, api_key_env=api_key_env, api_key=api_key)


def model_key(api_key_env: str | None, api_key: str | None, source: Wizard | None = None) -> tuple[str, str] | None:
    """(name, value) of the model's key for a new home's .env: the one given, else a clone's
    source's (the same model account), else None."""
    if api_key is not None:
        check_key_value(api_key)
        return api_key_env or DEFAULT_KEY_ENV, api_key
    if source is not None and source.agent.api_key_env:
        value = read_env(source.env_file).get(source.agent.api_key_env)
        if value:
            return source.agent.api_key_env, value
    return None


def check_key_value(value: str) -> None:
    if not value or any(c.isspace() or ord(c) < 32 for c in value):
        raise FleetError("the model's API key is empty or holds spaces or line breaks; pass the key alone, e.g. "
                         "printf %s \"$KEY\" | robe wizard set NAME --api-key -")


def _create_locked(path: str, name: str, *, port, agent, model, base_url, role, clone_from, gateway_start,
                   context_length, hermes_config, command, example_queue, mcp_command=None, api_key_env=None,
                   api_key=None) -> Created:
    fleet = load_fleet(path)
    existing = next((w for w in fleet.wizards if w.name == name), None)
    if existing:
        raise FleetError(f"{fleet.path}:{existing.line}: wizard {name} already exists; pick another name, "
                         f"or remove it first with 'robe wizard remove {name}'")
    source = fleet.wizard(clone_from) if clone_from else None
    chosen = choose_port(fleet, port, name=name)
    if api_key is not None and api_key_env is None and not (source and source.agent.api_key_env):
        api_key_env = DEFAULT_KEY_ENV
    settings = wizard_settings(name, chosen, agent=agent, model=model, base_url=base_url, role=role,
                               gateway_start=gateway_start, source=source, context_length=context_length,
                               hermes_config=hermes_config, command=command, api_key_env=api_key_env)
    text = read_fleet_text(fleet.path)
    new_text = add_wizard_text(text, name, settings)
    new_fleet = parse_fleet(new_text, fleet.path)  # the whole new file must be valid before anything is written
    w = new_fleet.wizard(name)
    if not house_is_empty(w):
        raise FleetError(f"{w.house} already exists and is not empty (a removed wizard's house?); move it away, "
                         "or delete it, and run this again")
    soul = clone_soul(source, w) if source else None
    house_existed = os.path.exists(w.house)
    key = model_key(w.agent.api_key_env, api_key, source)
    paths = ensure_house(new_fleet, w, soul=soul, example_queue=example_queue, mcp_command=mcp_command, model_key=key)
    try:
        new_fleet = write_fleet_text(fleet.path, new_text)
    except BaseException:
        if not house_existed:
            shutil.rmtree(w.house, ignore_errors=True)
        raise
    log.info("wizard %s: created on port %d", name, chosen)
    return Created(new_fleet, w, paths)


#: what 'robe wizard set NAME KEY=VALUE' may change, and where in the wizard's entry it lives
SETTABLE = {"model": "agent.model", "base_url": "agent.base_url", "context_length": "agent.context_length",
            "provider": "agent.provider", "api_key_env": "agent.api_key_env", "role": "role",
            "max_active": "max_active", "max_parallel": "max_parallel", "dispatch_floor": "dispatch_floor",
            "timeout": "timeout", "lease": "lease", "max_attempts": "max_attempts"}
_WHOLE_NUMBERS = {"agent.context_length", "max_active", "max_parallel", "timeout", "lease", "max_attempts"}


@dataclass
class Changed:
    fleet: FleetConfig
    wizard: Wizard
    settings: dict
    written: list[str] = field(default_factory=list)


def parse_changes(pairs) -> dict:
    """``["model=qwen2.5:7b", "context_length=65536", "base_url="]`` as {setting: value or None}
    (an empty value removes the setting); FleetError naming what may be set otherwise."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        where = SETTABLE.get(key.strip().removeprefix("agent."))
        if not sep or where is None:
            raise FleetError(f"{pair!r} is not a setting robe wizard set changes; write KEY=VALUE with KEY one of: "
                             f"{', '.join(SETTABLE)} (other settings: edit fleet.yaml)")
        raw = raw.strip()
        if where in _WHOLE_NUMBERS and raw:
            if not raw.isdigit():
                raise FleetError(f"{pair!r}: {key.strip()} is a whole number, e.g. {key.strip()}=65536")
            out[where] = int(raw)
        else:
            out[where] = raw or None
    return out


def set_wizard(fleet_path: str | None, name: str, changes: dict, *, api_key: str | None = None,
               cwd: str | None = None) -> Changed:
    """Change a wizard's settings in fleet.yaml (only those lines change), put a new model key in
    its home's .env, and regenerate the parts of its config.yaml robe owns (the rest stays)."""
    path = find_fleet_file(fleet_path, cwd)
    load_fleet(path)
    with fleet_lock(path):
        fleet = load_fleet(path)
        w = fleet.wizard(name)
        changes = dict(changes)
        if api_key is not None:
            check_key_value(api_key)
            changes.setdefault("agent.api_key_env", w.agent.api_key_env or DEFAULT_KEY_ENV)
        check_key_name(changes.get("agent.api_key_env"))
        text = original = read_fleet_text(fleet.path)
        for key, value in changes.items():
            text = set_wizard_text(text, name, key, value)
        new_fleet = parse_fleet(text, fleet.path)
        new = new_fleet.wizard(name)
        check_model(new.agent.kind, new.agent.context_length, dict(new.agent.config or {}))
        written = []
        if api_key is not None:
            set_env_key(new.env_file, new.agent.api_key_env, api_key)
            written.append(new.env_file)
        if text != original:
            new_fleet = write_fleet_text(fleet.path, text)
            written.append(fleet.path)
        if os.path.isdir(new.home):
            written.append(rewrite_config(new))
        return Changed(new_fleet, new, changes, written)


@dataclass
class Removed:
    fleet: FleetConfig
    wizard: Wizard
    purged: bool
    warnings: list[str]


def remove_wizard(fleet_path: str | None, name: str, *, purge: bool = False, cwd: str | None = None) -> Removed:
    path = find_fleet_file(fleet_path, cwd)
    load_fleet(path)
    with fleet_lock(path):
        return _remove_locked(path, name, purge)


def _remove_locked(path: str, name: str, purge: bool) -> Removed:
    fleet = load_fleet(path)
    w = fleet.wizard(name)
    for r in fleet.routes:
        if r.wizard == name:
            raise FleetError(f"{fleet.path}:{r.line}: a route still sends tasks to {name}; change or delete that "
                             "route first, then remove the wizard")
    if fleet.default_wizard == name:
        raise FleetError(f"{fleet.path}: default_wizard is {name}; name another wizard there first, "
                         "then remove this one")
    if gateway_process(w) is not None:
        raise FleetError(f"wizard {name}'s gateway is running; stop it first with 'robe gateway stop --wizard {name}'")
    warnings = pending_for(fleet, name)
    new_text = remove_wizard_text(read_fleet_text(fleet.path), name)
    new_fleet = parse_fleet(new_text, fleet.path)
    if purge:
        _check_purgeable(fleet, w)
    write_fleet_text(fleet.path, new_text)
    if purge and os.path.isdir(w.house):
        shutil.rmtree(w.house)
    if purge and os.path.isdir(w.home) and not os.path.realpath(w.home).startswith(os.path.realpath(w.house) + os.sep):
        shutil.rmtree(w.home)
    return Removed(new_fleet, w, purge, warnings)


def _check_purgeable(fleet: FleetConfig, w: Wizard) -> None:
    house = os.path.realpath(w.house)
    fleet_dir = os.path.realpath(fleet.folder)
    protected = {"/", os.path.realpath(os.path.expanduser("~")), fleet_dir, os.path.realpath(fleet.root)}
    if house in protected or fleet_dir.startswith(house + os.sep):
        raise FleetError(f"will not delete {w.house}: it holds fleet.yaml or other wizards; "
                         "remove without --purge and delete what you want by hand")
    for o in fleet.wizards:
        if o.name != w.name:
            oh = os.path.realpath(o.house)
            if oh == house or oh.startswith(house + os.sep):
                raise FleetError(f"will not delete {w.house}: wizard {o.name}'s house is inside it; "
                                 "remove without --purge")


def pending_for(fleet: FleetConfig, name: str) -> list[str]:
    """Warnings for PENDING/IN_PROGRESS tasks in any of the fleet's queues assigned to ``name``."""
    warnings = []
    for queue_path in sorted({w.queue for w in fleet.wizards}):
        if not os.path.exists(queue_path):
            continue
        try:
            q = load(queue_path)
        except QueueError:
            continue
        for t in q.tasks:
            if t.assignee == name and t.status.value in ("PENDING", "IN_PROGRESS"):
                warnings.append(f"{queue_path}:{t.line}: {t.id} ({t.status.value}) is still assigned to {name}; "
                                "assign it to another wizard")
    return warnings


@dataclass
class InitResult:
    fleet: FleetConfig
    created: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.created)


def init_fleet(folder: str | None = None, *, wizard: str = "allegro", agent: str = "hermes", model: str | None = None,
               base_url: str | None = None, role: str | None = None, port: int | None = None,
               mcp_command: list[str] | None = None, context_length: int | None = None,
               api_key_env: str | None = None, api_key: str | None = None) -> InitResult:
    """A fleet.yaml with one wizard and its house; on an existing fleet, build whatever house is
    missing. The model settings are the first wizard's, as ``create_wizard`` takes them."""
    folder = os.path.abspath(folder or os.getcwd())
    path = os.path.join(folder, FILE_NAME)
    models = dict(model=model, base_url=base_url, context_length=context_length, api_key_env=api_key_env,
                  api_key=api_key)
    if not os.path.exists(path):
        return _new_fleet(folder, path, wizard, agent, role, port, mcp_command, models)
    fleet = load_fleet(path)
    if not fleet.wizards:  # a fleet.yaml written by hand with no wizard yet: add the first one
        made = create_wizard(path, wizard, port=port, agent=agent, role=role or "Tempo-and-dispatch",
                             example_queue=True, mcp_command=mcp_command, **models)
        return InitResult(made.fleet, [path] + made.paths)
    given = [k for k, v in models.items() if v is not None]
    if given:
        raise FleetError(f"{path} already exists, so 'robe init' changes no wizard's model; use 'robe wizard set "
                         f"NAME {given[0]}=...' (or --api-key - there) for the wizard you mean")
    created: list[str] = []
    for w in fleet.wizards:
        if fleet.host != fleet.hub and not fleet.runs_here(w):
            continue  # not the hub: only the houses of this machine's wizards
        created += ensure_house(fleet, w, example_queue=(w.name == (fleet.default_wizard or fleet.names[0])),
                                mcp_command=mcp_command)
    return InitResult(fleet, created)


def _new_fleet(folder: str, path: str, wizard: str, agent: str, role, port, mcp_command, models: dict) -> InitResult:
    check_name(wizard)
    os.makedirs(folder, exist_ok=True)
    default = f"default_wizard: {wizard}            # takes tasks of shared queues no Assignee or route claims\n"
    base = new_fleet_text(folder).replace("default_priority: P2", default + "default_priority: P2", 1)
    empty = parse_fleet(new_fleet_text(folder), path)
    chosen = choose_port(empty, port, name=wizard)
    key_env = models["api_key_env"] or (DEFAULT_KEY_ENV if models["api_key"] is not None else None)
    settings = wizard_settings(wizard, chosen, agent=agent, model=models["model"], base_url=models["base_url"],
                               role=role or "Tempo-and-dispatch", context_length=models["context_length"],
                               api_key_env=key_env)
    text = add_wizard_text(base, wizard, settings)
    fleet = parse_fleet(text, path)
    key = model_key(key_env, models["api_key"])
    created: list[str] = []
    for w in fleet.wizards:
        created += ensure_house(fleet, w, example_queue=True, mcp_command=mcp_command, model_key=key)
    write_fleet_text(path, text)
    created.insert(0, path)
    return InitResult(fleet, created)


_JOINED_KEYS = ("broker", "hub", "host")


def joined_text(hub_text: str, *, url: str, hub: str, host: str, when: str) -> str:
    """The hub's fleet.yaml as a joining machine keeps it: the same wizards and settings, with
    ``broker``, ``hub`` and ``host`` (this machine) set at the top."""
    head = (f"# Joined from the hub {hub} through {url} at {when}. The hub's fleet.yaml decides; run\n"
            f"# 'robe init --join {url}' again to take its changes.\n")
    try:
        root = yaml.compose(hub_text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    if isinstance(root, yaml.MappingNode) and root.flow_style:  # {..} or JSON: no lines to keep, the data is
        data = yaml.safe_load(hub_text)
        data = {"broker": url, "hub": hub, "host": host, **{k: v for k, v in data.items() if k not in _JOINED_KEYS}}
        return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    kept = []
    skipping = False
    for line in hub_text.splitlines(keepends=True):
        top = line[:1] not in (" ", "\t", "#", "\n", "\r", "") and ":" in line
        if top:
            skipping = line.split(":", 1)[0].strip() in _JOINED_KEYS
        elif line[:1] not in (" ", "\t"):
            skipping = False
        if not skipping:
            kept.append(line)
    return head + f"broker: {url}\nhub: {hub}\nhost: {host}\n" + "".join(kept)


def join_fleet(folder: str | None, url: str, *, host: str | None = None,
               mcp_command: list[str] | None = None) -> InitResult:
    """Set this machine up from the hub's fleet (robe init --join): fleet.yaml copied from the
    broker, and the houses and homes of the wizards whose ``host`` is this machine. Run again,
    it takes the hub's changes (the previous fleet.yaml is kept as fleet.yaml.previous)."""
    folder = os.path.abspath(folder or os.getcwd())
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, FILE_NAME)
    broker = Broker(url, password_for(folder))
    try:
        data = joined_fleet(broker)
    finally:
        broker.close()
    name = host or this_machine()
    text = joined_text(data["yaml"], url=url, hub=str(data["hub"]), host=name, when=stamp())
    fleet = parse_fleet(text, path)
    if not any(fleet.runs_here(w) for w in fleet.wizards):
        hosts = ", ".join(sorted({w.host for w in fleet.wizards})) or "none"
        raise FleetError(f"no wizard of the hub's fleet runs on {name!r} (its wizards run on: {hosts}); give a wizard "
                         f"'host: {name}' in the hub's fleet.yaml, dispatch once there, and join again")
    created = []
    if os.path.exists(path):
        old = read_fleet_text(path)
        if old != text:
            atomic_write(path + ".previous", old.encode("utf-8"))
    write_fleet_text(path, text)
    created.append(path)
    for w in fleet.wizards:
        if fleet.runs_here(w):
            created += ensure_house(fleet, w, mcp_command=mcp_command)
    return InitResult(fleet, created)
