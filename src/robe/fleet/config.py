"""fleet.yaml: the typed model of a fleet, how it is found, read and validated.

The file is composed into PyYAML's node tree (not straight into dicts) so that every error
can name the line it is about, and so that a key written twice is caught: PyYAML's own
constructor silently keeps the last one, which would hide a wizard named twice.
"""

from __future__ import annotations

import difflib
import os
import re
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import yaml

from ..errors import RobeError

FILE_NAME = "fleet.yaml"
DEFAULT_PORTS = (8643, 8699)
DEFAULT_PRIORITY = "P2"
PRIORITIES = ("P0", "P1", "P2", "P3")
AGENT_KINDS = ("hermes", "openai", "command", "echo")
NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


def is_valid_name(name: str) -> bool:
    """A wizard name: lower-case letters and digits, words joined by single dashes."""
    return bool(NAME_RE.match(name or ""))


ROUTE_KEYS = ("assignee", "priority", "tags", "section", "id")
DEFAULT_HEALTH = "http://127.0.0.1:{port}/health"
DEFAULT_HERMES_GATEWAY = ("hermes", "gateway", "run")
MAX_FLEET_BYTES = 1024 * 1024
#: an empty mapping no record can change (a shared default)
EMPTY: Mapping = MappingProxyType({})

TOP_KEYS = ("root", "codebase", "ports", "default_wizard", "default_priority", "services", "wizards", "routes")
WIZARD_KEYS = ("role", "port", "house", "home", "queue", "agent", "gateway", "max_active", "max_parallel",
               "dispatch_floor", "timeout", "lease", "max_attempts", "schedule", "lineage", "relationships")
AGENT_KEYS = {
    "hermes": ("kind", "model", "provider", "base_url", "context_length", "api_key_env", "config"),
    "openai": ("kind", "model", "base_url", "api_key_env", "context_length", "config"),
    "command": ("kind", "argv"),
    "echo": ("kind",),
}


class FleetError(RobeError):
    """A fleet.yaml that cannot be used, or a fleet operation that was refused."""


class FleetProblem(NamedTuple):
    """A fault found between wizards (shared port, shared home) when loading leniently."""

    path: str
    line: int
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key}: {self.message}; {self.fix}"


# ---------------------------------------------------------------------------------------------
# The model


class Agent(NamedTuple):
    kind: str
    model: str | None = None
    provider: str | None = None
    base_url: str | None = None
    context_length: int | None = None
    api_key_env: str | None = None
    argv: tuple[str, ...] = ()
    #: extra Hermes config.yaml settings, merged into the home's config.yaml
    config: Mapping = EMPTY

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind}
        for k in ("model", "provider", "base_url", "context_length", "api_key_env"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.argv:
            d["argv"] = list(self.argv)
        if self.config:
            d["config"] = dict(self.config)
        return d


class Gateway(NamedTuple):
    start: tuple[str, ...]
    #: health check with ``{port}`` already filled in: ``http://...`` or ``tcp://host:port``
    health: str

    def to_dict(self) -> dict:
        return {"start": list(self.start), "health": self.health}


class Service(NamedTuple):
    name: str
    check: str | None
    restart: tuple[str, ...] = ()


class Route(NamedTuple):
    match: dict
    wizard: str = ""
    line: int = 0


class Wizard(NamedTuple):
    name: str
    port: int
    house: str
    home: str
    queue: str
    agent: Agent
    gateway: Gateway | None
    role: str = ""
    lineage: str = ""
    relationships: Mapping = EMPTY
    max_active: int = 1
    max_parallel: int = 1
    dispatch_floor: str = "P3"
    timeout: int = 1800
    lease: int = 600
    max_attempts: int = 3
    schedule: Mapping = EMPTY
    #: line of the wizard's name in fleet.yaml (0 when built in code)
    line: int = 0

    @property
    def work_dir(self) -> str:
        return os.path.join(self.house, "work")

    @property
    def completed_dir(self) -> str:
        return os.path.join(self.house, "completed")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.house, "logs")

    @property
    def reports_dir(self) -> str:
        return os.path.join(self.house, "reports")

    @property
    def env_file(self) -> str:
        return os.path.join(self.home, ".env")

    @property
    def config_file(self) -> str:
        return os.path.join(self.home, "config.yaml")

    @property
    def soul_file(self) -> str:
        return os.path.join(self.home, "SOUL.md")

    @property
    def start_script(self) -> str:
        return os.path.join(self.house, "start-gateway.sh")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.logs_dir, "gateway.pid")

    @property
    def gateway_log(self) -> str:
        return os.path.join(self.logs_dir, "gateway.log")

    @property
    def executor_file(self) -> str:
        return os.path.join(self.logs_dir, "executor.json")

    def to_dict(self) -> dict:
        return {
            "name": self.name, "role": self.role, "port": self.port, "house": self.house, "home": self.home,
            "queue": self.queue, "agent": self.agent.to_dict(),
            "gateway": self.gateway.to_dict() if self.gateway else None,
            "max_active": self.max_active, "max_parallel": self.max_parallel,
            "dispatch_floor": self.dispatch_floor, "timeout": self.timeout, "lease": self.lease,
            "max_attempts": self.max_attempts, "schedule": dict(self.schedule),
        }


class FleetConfig(NamedTuple):
    """What fleet.yaml says, validated: the wizards, routes, services and defaults."""

    path: str
    root: str
    wizards: tuple[Wizard, ...] = ()
    ports: tuple[int, int] = DEFAULT_PORTS
    codebase: str | None = None
    default_wizard: str | None = None
    default_priority: str = DEFAULT_PRIORITY
    services: tuple[Service, ...] = ()
    routes: tuple[Route, ...] = ()

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    @property
    def names(self) -> list[str]:
        return [w.name for w in self.wizards]

    def wizard(self, name: str) -> Wizard:
        for w in self.wizards:
            if w.name == name:
                return w
        hint = _did_you_mean(name, self.names)
        known = ", ".join(self.names) or "none yet"
        raise FleetError(f"{self.path}: there is no wizard named {name!r}{hint}; "
                         f"the fleet has: {known} (add one with 'robe wizard create {name}')")


# ---------------------------------------------------------------------------------------------
# Finding fleet.yaml


def find_fleet_file(path: str | None = None, cwd: str | None = None) -> str:
    """--fleet PATH, else $ROBE_FLEET, else fleet.yaml here or in the nearest parent folder."""
    given = path or os.environ.get("ROBE_FLEET") or None
    if given:
        p = os.path.abspath(os.path.expanduser(given))
        if os.path.isdir(p):
            p = os.path.join(p, FILE_NAME)
        if not os.path.exists(p):
            raise FleetError(f"{p} does not exist; create a fleet with 'robe init', or pass the right --fleet")
        return p
    here = os.path.abspath(cwd or os.getcwd())
    while True:
        candidate = os.path.join(here, FILE_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    raise FleetError(f"no {FILE_NAME} in {os.path.abspath(cwd or os.getcwd())} or any folder above it; "
                     "run 'robe init' to create one, or pass --fleet PATH (or set ROBE_FLEET)")


def read_fleet_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FLEET_BYTES + 1)
    except FileNotFoundError:
        raise FleetError(f"{path} does not exist; create a fleet with 'robe init', or pass the right --fleet") from None
    except IsADirectoryError:
        raise FleetError(f"{path} is a folder; pass the fleet.yaml inside it with --fleet") from None
    except OSError as e:
        raise FleetError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_FLEET_BYTES:
        raise FleetError(f"{path} is larger than 1 MiB; that is not a fleet.yaml, pass the right --fleet")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FleetError(f"{path}: byte {e.start} is not UTF-8; save the file as UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as some editors write
    if "\x00" in text:
        raise FleetError(f"{path} is a binary file, not YAML; pass the right --fleet")
    return text


def load_fleet(path: str | None = None, cwd: str | None = None, problems: list | None = None) -> FleetConfig:
    """Find, read and validate fleet.yaml; FleetError (file:line: key: what; fix) otherwise.
    With a ``problems`` list (the doctor's lenient load), faults between wizards are added to
    it instead of raised."""
    p = find_fleet_file(path, cwd)
    return parse_fleet(read_fleet_text(p), p, problems)


# ---------------------------------------------------------------------------------------------
# Validation over the node tree


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    def __init__(self, text: str, path: str, soft: list | None = None):
        self.soft = soft
        self.text = text
        self.path = path
        self.folder = os.path.dirname(os.path.abspath(path))
        self.constructor = yaml.constructor.SafeConstructor()

    # -- errors
    def fail(self, node, key: str, what: str, fix: str):
        line = node.start_mark.line + 1 if node is not None else 1
        where = f"{key}: " if key else ""
        raise FleetError(f"{self.path}:{line}: {where}{what}; {fix}")

    def problem(self, node, key: str, what: str, fix: str):
        """A fault between wizards: an error when loading, one finding among many for the doctor."""
        if self.soft is None:
            self.fail(node, key, what, fix)
        line = node.start_mark.line + 1 if node is not None else 1
        self.soft.append(FleetProblem(self.path, line, key, what, fix))

    # -- node helpers
    def value(self, node):
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node, key: str, allowed=None, what="a mapping of keys to values") -> list[tuple[str, Any, Any]]:
        """(key, key_node, value_node) in order; duplicates and unknown keys are errors."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
            return []
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, f"expected {what}, found {self._describe(node)}", f"write {key} as 'name: value' lines")
        seen: dict[str, Any] = {}
        out = []
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.fail(knode, key, "a key is not a plain word", "use simple words as keys")
            k = str(knode.value)
            full = f"{key}.{k}" if key else k
            if k in seen:
                self.fail(knode, full, f"written twice (first on line {seen[k].start_mark.line + 1})",
                          "keep one and remove or rename the other")
            seen[k] = knode
            if allowed is not None and k not in allowed:
                hint = _did_you_mean(k, allowed)
                self.fail(knode, full, f"unknown key{hint}", f"use one of: {', '.join(allowed)}")
            out.append((k, knode, vnode))
        return out

    def _describe(self, node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        if node.tag == "tag:yaml.org,2002:null":
            return "nothing"
        return f"{node.value!r}"

    def scalar(self, node, key: str, typ, fix: str):
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.fail(node, key, f"expected {_type_word(typ)}, found {self._describe(node)}", fix)
        v = self.value(node)
        if typ is str:
            if isinstance(v, (bool,)) or not isinstance(v, (str, int, float)):
                self.fail(node, key, f"expected text, found {node.value!r}", fix)
            return str(v) if not isinstance(v, str) else v
        if typ is int:
            if isinstance(v, bool) or not isinstance(v, int):
                self.fail(node, key, f"expected a whole number, found {node.value!r}", fix)
            return v
        return v

    def str_list(self, node, key: str, fix: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            return (node.value,)
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.fail(node, key, f"expected a list of words, found {self._describe(node)}", fix)
        return tuple(self.scalar(item, key, str, fix) for item in node.value)

    def argv(self, node, key: str) -> tuple[str, ...]:
        fix = f"write {key} as a list, e.g. [hermes, gateway, run]"
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.fail(node, key, f"expected a command as a list of words, found {self._describe(node)}", fix)
        return tuple(self.scalar(item, key, str, fix) for item in node.value)

    def path_value(self, node, key: str, base: str) -> str:
        p = self.scalar(node, key, str, f"write {key} as a folder path")
        if not p.strip():
            self.fail(node, key, "is empty", f"write {key} as a folder path")
        p = os.path.expanduser(p)
        return os.path.normpath(os.path.join(base, p))

    def port(self, node, key: str) -> int:
        p = self.scalar(node, key, int, "write a port number such as 8643")
        if p < 1024:
            self.fail(node, key, f"port {p} is below 1024 (reserved for root services)",
                      "pick a port between 1024 and 65535, such as 8643")
        if p > 65535:
            self.fail(node, key, f"port {p} is not a TCP port (the largest is 65535)",
                      "pick a port between 1024 and 65535, such as 8643")
        return p

    def priority(self, node, key: str) -> str:
        v = self.scalar(node, key, str, "write one of P0, P1, P2, P3")
        if v.upper() not in PRIORITIES:
            self.fail(node, key, f"{v!r} is not a priority", "write one of P0, P1, P2, P3")
        return v.upper()

    def positive(self, node, key: str, unit: str = "") -> int:
        v = self.scalar(node, key, int, f"write a whole number{unit}")
        if v < 1:
            self.fail(node, key, f"{v} is not allowed", f"write a whole number of at least 1{unit}")
        return v

    def plain(self, node, key: str, fix: str):
        """Any YAML value (for free-form settings) with duplicate-key checks on mappings."""
        if isinstance(node, yaml.MappingNode):
            return {k: self.plain(v, f"{key}.{k}", fix) for k, _, v in self.mapping(node, key)}
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(v, key, fix) for v in node.value]
        return self.value(node)


def _type_word(typ) -> str:
    return {str: "text", int: "a whole number"}.get(typ, "a value")


def parse_fleet(text: str, path: str, problems: list | None = None) -> FleetConfig:
    """Validate fleet.yaml's text; ``path`` is used for messages and to resolve relative paths.

    With a ``problems`` list, faults between wizards (a shared port or home) are appended to it
    as FleetProblem instead of raised, so 'robe doctor' can report all of them.
    """
    path = os.path.abspath(path)
    c = _Checker(text, path, problems)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        problem = (e.problem or e.context or "it is not valid YAML").strip()
        raise FleetError(f"{path}:{line}: this is not valid YAML ({problem}); fix the indentation or quoting "
                         "on that line (compare with examples/fleet.yaml)") from None
    except yaml.YAMLError as e:
        raise FleetError(f"{path}:1: this is not valid YAML ({e}); compare with examples/fleet.yaml") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        raise FleetError(f"{path}:1: the file is empty; describe the fleet in it (run 'robe init' for a "
                         "starting point, or copy examples/fleet.yaml)")
    if not isinstance(root, yaml.MappingNode):
        c.fail(root, "", f"the top of the file is {c._describe(root)}, not a mapping",
               "start with keys such as 'root:', 'ports:' and 'wizards:' (see examples/fleet.yaml)")

    top = {k: (kn, vn) for k, kn, vn in c.mapping(root, "", TOP_KEYS)}

    root_dir = c.folder
    if "root" in top:
        root_dir = c.path_value(top["root"][1], "root", c.folder)
    codebase = c.path_value(top["codebase"][1], "codebase", c.folder) if "codebase" in top else None

    first, last = DEFAULT_PORTS
    if "ports" in top:
        pn = top["ports"][1]
        pm = {k: vn for k, _, vn in c.mapping(pn, "ports", ("first", "last"))}
        if "first" in pm:
            first = c.port(pm["first"], "ports.first")
        if "last" in pm:
            last = c.port(pm["last"], "ports.last")
        if first > last:
            c.fail(pn, "ports", f"first ({first}) is above last ({last})", "swap them")

    default_priority = c.priority(top["default_priority"][1], "default_priority") if "default_priority" in top \
        else DEFAULT_PRIORITY

    services = []
    if "services" in top:
        for name, _, sn in c.mapping(top["services"][1], "services"):
            sm = {k: vn for k, _, vn in c.mapping(sn, f"services.{name}", ("check", "restart"))}
            check = c.scalar(sm["check"], f"services.{name}.check", str,
                             "write a URL such as http://127.0.0.1:11434/ or tcp://127.0.0.1:8080") \
                if "check" in sm else None
            restart = c.argv(sm["restart"], f"services.{name}.restart") if "restart" in sm else ()
            services.append(Service(name, check, restart))

    wizards: list[Wizard] = []
    nodes: dict[str, Any] = {}
    if "wizards" in top:
        for name, kn, wn in c.mapping(top["wizards"][1], "wizards"):
            key = f"wizards.{name}"
            if not is_valid_name(name):
                c.fail(kn, key, "a wizard's name may hold only lower-case letters, digits and dashes",
                       f"rename it, e.g. {re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-') or 'ezra'!r}")
            wizards.append(_wizard(c, name, kn, wn, root_dir, first, last))
            nodes[name] = (kn, wn)

    _check_ports(c, wizards, nodes)
    _check_homes(c, wizards, nodes)

    names = [w.name for w in wizards]
    default_wizard = None
    if "default_wizard" in top:
        dn = top["default_wizard"][1]
        default_wizard = c.scalar(dn, "default_wizard", str, "name one of the wizards")
        if default_wizard not in names:
            c.fail(dn, "default_wizard", f"there is no wizard named {default_wizard!r}{_did_you_mean(default_wizard, names)}",
                   f"name one of: {', '.join(names) or '(no wizards yet)'}")

    routes = []
    if "routes" in top:
        rn = top["routes"][1]
        if not (isinstance(rn, yaml.SequenceNode) or (isinstance(rn, yaml.ScalarNode) and rn.tag.endswith(":null"))):
            c.fail(rn, "routes", f"expected a list of routes, found {c._describe(rn)}",
                   "write each route as '- match: {tags: [research]}' with 'wizard: NAME' under it")
        for i, item in enumerate(rn.value if isinstance(rn, yaml.SequenceNode) else []):
            key = f"routes[{i}]"
            rm = {k: (kn, vn) for k, kn, vn in c.mapping(item, key, ("match", "wizard"))}
            if "wizard" not in rm:
                c.fail(item, key, "has no wizard", "add 'wizard: NAME' naming the wizard that takes these tasks")
            wnode = rm["wizard"][1]
            wname = c.scalar(wnode, f"{key}.wizard", str, "name one of the wizards")
            if wname not in names:
                c.fail(wnode, f"{key}.wizard", f"there is no wizard named {wname!r}{_did_you_mean(wname, names)}",
                       f"name one of: {', '.join(names) or '(no wizards yet)'}")
            match: dict[str, Any] = {}
            if "match" in rm:
                for mk, _, mv in c.mapping(rm["match"][1], f"{key}.match", ROUTE_KEYS):
                    mkey = f"{key}.match.{mk}"
                    if mk in ("tags",):
                        match[mk] = tuple(t.lower() for t in c.str_list(mv, mkey, "write tags as a list, e.g. [research]"))
                    elif mk == "priority":
                        vals = c.str_list(mv, mkey, "write P0..P3 or a list of them")
                        bad = [v for v in vals if v.upper() not in PRIORITIES]
                        if bad:
                            c.fail(mv, mkey, f"{bad[0]!r} is not a priority", "write P0, P1, P2 or P3")
                        match[mk] = tuple(v.upper() for v in vals)
                    else:
                        match[mk] = c.str_list(mv, mkey, f"write {mk} as a word or a list of words")
            routes.append(Route(match=match, wizard=wname, line=item.start_mark.line + 1))

    return FleetConfig(path=path, root=root_dir, wizards=tuple(wizards), ports=(first, last), codebase=codebase,
                 default_wizard=default_wizard, default_priority=default_priority, services=tuple(services),
                 routes=tuple(routes))


def _wizard(c: _Checker, name: str, kn, wn, root_dir: str, first: int, last: int) -> Wizard:
    key = f"wizards.{name}"
    fields = {k: (kk, vn) for k, kk, vn in c.mapping(wn, key, WIZARD_KEYS, what="the wizard's settings")}
    if "port" not in fields:
        c.fail(kn, key, "has no port", "add 'port: N' with a free port in the fleet's range, "
                                        "or create wizards with 'robe wizard create', which picks one")
    pnode = fields["port"][1]
    port = c.port(pnode, f"{key}.port")
    if not first <= port <= last:
        c.fail(pnode, f"{key}.port", f"port {port} is outside the fleet's range {first}-{last}",
               "pick a port inside the range, or widen 'ports' at the top of the file")
    house = c.path_value(fields["house"][1], f"{key}.house", c.folder) if "house" in fields \
        else os.path.join(root_dir, name)
    home = c.path_value(fields["home"][1], f"{key}.home", c.folder) if "home" in fields \
        else os.path.join(house, "home")
    queue = c.path_value(fields["queue"][1], f"{key}.queue", c.folder) if "queue" in fields \
        else os.path.join(house, "WORK-QUEUE.md")

    agent = Agent(kind="hermes")
    if "agent" in fields:
        an = fields["agent"][1]
        akey = f"{key}.agent"
        if isinstance(an, yaml.ScalarNode) and an.tag == "tag:yaml.org,2002:str":
            kind_node, amap = an, {"kind": (an, an)}
        else:
            amap = {k: (kk, vn) for k, kk, vn in c.mapping(an, akey, None, what="the agent's settings")}
            if "kind" not in amap:
                c.fail(an, akey, "has no kind", f"add 'kind:' with one of: {', '.join(AGENT_KINDS)}")
            kind_node = amap["kind"][1]
        kind = c.scalar(kind_node, f"{akey}.kind", str, f"write one of: {', '.join(AGENT_KINDS)}")
        if kind not in AGENT_KINDS:
            c.fail(kind_node, f"{akey}.kind", f"{kind!r} is not an agent kind{_did_you_mean(kind, AGENT_KINDS)}",
                   f"write one of: {', '.join(AGENT_KINDS)}")
        allowed = AGENT_KEYS[kind]
        vals: dict[str, Any] = {"kind": kind}
        for k, (kk, vn) in amap.items():
            if k == "kind":
                continue
            if k not in allowed:
                c.fail(kk, f"{akey}.{k}", f"is not a setting of a {kind} agent{_did_you_mean(k, allowed)}",
                       f"use one of: {', '.join(allowed[1:]) or '(none)'}")
            if k == "argv":
                vals["argv"] = c.argv(vn, f"{akey}.argv")
            elif k == "context_length":
                vals[k] = c.positive(vn, f"{akey}.{k}")
            elif k == "config":
                if not isinstance(vn, yaml.MappingNode):
                    c.fail(vn, f"{akey}.config", f"expected a mapping, found {c._describe(vn)}",
                           "write Hermes config.yaml settings under it, e.g. {agent: {environment_probe: false}}")
                vals[k] = c.plain(vn, f"{akey}.config", "")
            else:
                vals[k] = c.scalar(vn, f"{akey}.{k}", str, f"write {k} as text")
        if kind == "openai":
            for need in ("base_url", "model"):
                if need not in vals:
                    c.fail(an, akey, f"an openai agent needs {need}",
                           f"add '{need}:' (e.g. base_url: http://127.0.0.1:11434/v1, model: qwen2.5:1.5b)")
        if kind == "command" and "argv" not in vals:
            c.fail(an, akey, "a command agent needs argv",
                   "add 'argv: [my-agent, --prompt-file, \"{prompt_file}\"]'")
        agent = Agent(**vals)

    gateway = Gateway(DEFAULT_HERMES_GATEWAY, DEFAULT_HEALTH.format(port=port)) if agent.kind == "hermes" else None
    if "gateway" in fields:
        gn = fields["gateway"][1]
        gkey = f"{key}.gateway"
        if isinstance(gn, yaml.ScalarNode) and gn.tag.endswith(":null"):
            gateway = None
        elif isinstance(gn, yaml.ScalarNode) and gn.tag.endswith(":bool") and c.value(gn) is False:
            gateway = None
        else:
            gm = {k: vn for k, _, vn in c.mapping(gn, gkey, ("start", "health"))}
            if "start" not in gm:
                c.fail(gn, gkey, "has no start command", "add 'start: [hermes, gateway, run]' or remove 'gateway'")
            start = c.argv(gm["start"], f"{gkey}.start")
            health = DEFAULT_HEALTH
            if "health" in gm:
                hn = gm["health"]
                health = c.scalar(hn, f"{gkey}.health", str, "write http://127.0.0.1:{port}/health or tcp://127.0.0.1:{port}")
                if not (health.startswith("http://") or health.startswith("tcp://")):
                    c.fail(hn, f"{gkey}.health", f"{health!r} is neither http:// nor tcp://",
                           "write http://127.0.0.1:{port}/health or tcp://127.0.0.1:{port}")
            gateway = Gateway(start, health.replace("{port}", str(port)))

    schedule: dict[str, str] = {}
    if "schedule" in fields:
        for sk, _, sv in c.mapping(fields["schedule"][1], f"{key}.schedule"):
            schedule[sk] = c.scalar(sv, f"{key}.schedule.{sk}", str, "write a cron expression in quotes, e.g. \"*/15 * * * *\"")

    relationships: dict[str, str] = {}
    if "relationships" in fields:
        for rk, _, rv in c.mapping(fields["relationships"][1], f"{key}.relationships"):
            relationships[rk] = c.scalar(rv, f"{key}.relationships.{rk}", str, "write one line of text")

    def opt(k, fn, default, *args):
        return fn(fields[k][1], f"{key}.{k}", *args) if k in fields else default

    return Wizard(
        name=name, port=port, house=house, home=home, queue=queue, agent=agent, gateway=gateway,
        role=opt("role", c.scalar, "", str, "write the role as one line of text"),
        lineage=opt("lineage", c.scalar, "", str, "write the lineage as one line of text"),
        relationships=relationships,
        max_active=opt("max_active", c.positive, 1),
        max_parallel=opt("max_parallel", c.positive, 1),
        dispatch_floor=opt("dispatch_floor", c.priority, "P3"),
        timeout=opt("timeout", c.positive, 1800, " of seconds"),
        lease=opt("lease", c.positive, 600, " of seconds"),
        max_attempts=opt("max_attempts", c.positive, 3),
        schedule=schedule,
        line=kn.start_mark.line + 1,
    )


def _check_ports(c: _Checker, wizards: list[Wizard], nodes) -> None:
    held: dict[int, Wizard] = {}
    for w in wizards:
        if w.port in held:
            other = held[w.port]
            c.problem(_find_value(c, nodes[w.name], "port"), f"wizards.{w.name}.port",
                   f"port {w.port} is already used by wizard {other.name} (line {other.line})",
                   "give each wizard its own port (or delete the line and let 'robe wizard create' choose)")
        held[w.port] = w


def _find_value(c: _Checker, nodes: tuple, key: str):
    """The node under a wizard's ``key`` (for the line of an error), else the wizard's name."""
    kn, wn = nodes
    if isinstance(wn, yaml.MappingNode):
        for fk, fv in wn.value:
            if fk.value == key:
                return fv
    return kn


def real(path: str) -> str:
    return os.path.realpath(path)


def inside(a: str, b: str) -> bool:
    """Is folder a the same as or inside folder b (both already resolved)?"""
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


def _check_homes(c: _Checker, wizards: list[Wizard], nodes) -> None:
    seen: list[tuple[Wizard, str, str]] = []
    for w in wizards:
        home, house = real(w.home), real(w.house)
        for other, ohome, ohouse in seen:
            if inside(home, ohome) or inside(ohome, home):
                same = "the same folder as" if home == ohome else ("inside" if inside(home, ohome) else "around")
                c.problem(_find_value(c, nodes[w.name], "home"), f"wizards.{w.name}.home",
                       f"the home {w.home} is {same} the home of wizard {other.name} (line {other.line}), "
                       "so they would share memories and sessions",
                       "give each wizard its own home folder")
            if house == ohouse:
                c.problem(_find_value(c, nodes[w.name], "house"), f"wizards.{w.name}.house",
                       f"the house {w.house} is also the house of wizard {other.name} (line {other.line})",
                       "give each wizard its own house folder")
        seen.append((w, home, house))
