"""Validating fleet.yaml's text into the fleet model, with file:line: key: what; fix errors.

The file is composed into PyYAML's node tree (not straight into dicts) so that every error
can name the line it is about, and so that a key written twice is caught: PyYAML's own
constructor silently keeps the last one, which would hide a wizard named twice.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from .model import (
    AGENT_KEYS,
    AGENT_KINDS,
    ALERT_KEYS,
    ALERT_KINDS,
    BROKER_PASSWORD_ENV,
    BUDGET_KEYS,
    DEFAULT_HEALTH,
    DEFAULT_HERMES_GATEWAY,
    DEFAULT_MAX_OPEN_ASKS,
    DEFAULT_PORTS,
    DEFAULT_PRIORITY,
    EMPTY,
    ENV_NAME_RE,
    HOST_RE,
    NO_ALERTS,
    NO_BUDGET,
    PRIORITIES,
    ROUTE_KEYS,
    TOP_KEYS,
    WIZARD_KEYS,
    Agent,
    Alerts,
    Budget,
    FleetConfig,
    FleetError,
    FleetProblem,
    Gateway,
    Route,
    Service,
    Webhook,
    Wizard,
    did_you_mean,
    is_valid_name,
    secret_advice,
    secret_settings,
)


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
                hint = did_you_mean(k, allowed)
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


def _compose(text: str, path: str, c: _Checker):
    """fleet.yaml's node tree (its top must be a mapping); FleetError naming the line otherwise."""
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
    return root


def parse_fleet(text: str, path: str, problems: list | None = None) -> FleetConfig:
    """Validate fleet.yaml's text; ``path`` is used for messages and to resolve relative paths.

    With a ``problems`` list, faults between wizards (a shared port or home) are appended to it
    as FleetProblem instead of raised, so 'robe doctor' can report all of them.
    """
    path = os.path.abspath(path)
    c = _Checker(text, path, problems)
    top = {k: (kn, vn) for k, kn, vn in c.mapping(_compose(text, path, c), "", TOP_KEYS)}
    root_dir = c.path_value(top["root"][1], "root", c.folder) if "root" in top else c.folder
    codebase = c.path_value(top["codebase"][1], "codebase", c.folder) if "codebase" in top else None
    first, last = _ports(c, top["ports"][1]) if "ports" in top else DEFAULT_PORTS
    default_priority = (c.priority(top["default_priority"][1], "default_priority") if "default_priority" in top
                        else DEFAULT_PRIORITY)
    services = _services(c, top["services"][1]) if "services" in top else ()
    wizards: list[Wizard] = []
    nodes: dict[str, Any] = {}
    if "wizards" in top:
        for name, kn, wn in c.mapping(top["wizards"][1], "wizards"):
            if not is_valid_name(name):
                c.fail(kn, f"wizards.{name}", "a wizard's name may hold only lower-case letters, digits and dashes",
                       f"rename it, e.g. {re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-') or 'ezra'!r}")
            wizards.append(_wizard(c, name, kn, wn, root_dir, first, last))
            nodes[name] = (kn, wn)
    _check_ports(c, wizards, nodes)
    _check_homes(c, wizards, nodes)
    names = [w.name for w in wizards]
    default_wizard = _wizard_name(c, top["default_wizard"][1], "default_wizard", names) \
        if "default_wizard" in top else None
    routes = _routes(c, top["routes"][1], names) if "routes" in top else ()
    max_open_asks = (c.positive(top["max_open_asks"][1], "max_open_asks") if "max_open_asks" in top
                     else DEFAULT_MAX_OPEN_ASKS)
    budget = _budget(c, top["budget"][1], "budget") if "budget" in top else NO_BUDGET
    alerts = _alerts(c, top["alerts"][1]) if "alerts" in top else NO_ALERTS
    broker = _broker(c, top["broker"][1]) if "broker" in top else None
    here = _host(c, top["host"][1], "host") if "host" in top else this_machine()
    hub = _host(c, top["hub"][1], "hub") if "hub" in top else here
    placed = []
    for w in wizards:
        wn = nodes[w.name][1]
        hnode = _find_value(c, nodes[w.name], "host") if isinstance(wn, yaml.MappingNode) and any(
            k.value == "host" for k, _ in wn.value) else None
        whost = _host(c, hnode, f"wizards.{w.name}.host") if hnode is not None else hub
        if whost != hub and broker is None:
            c.fail(hnode, f"wizards.{w.name}.host", f"runs on machine {whost!r}, but the fleet has no broker to carry "
                   "its work there", "add 'broker: redis://HOST:6379/0' at the top of the file, or remove the host")
        placed.append(w._replace(host=whost))
    return FleetConfig(path=path, root=root_dir, wizards=tuple(placed), ports=(first, last), codebase=codebase,
                       default_wizard=default_wizard, default_priority=default_priority, services=tuple(services),
                       routes=tuple(routes), max_open_asks=max_open_asks, budget=budget, alerts=alerts,
                       broker=broker, hub=hub, host=here)


def this_machine() -> str:
    """This machine's name in a fleet: $ROBE_HOST, else its hostname."""
    return os.environ.get("ROBE_HOST") or os.uname().nodename


def _host(c: _Checker, node, key: str) -> str:
    name = c.scalar(node, key, str, "write a machine's name, such as gpu-box")
    if not HOST_RE.match(name):
        c.fail(node, key, f"{name!r} is not a machine's name", "use letters, digits, dots and dashes, e.g. gpu-box")
    return name


def _broker(c: _Checker, node) -> str:
    """``broker: redis://HOST:PORT/DB`` (or ``rediss://``); a password is refused: it belongs in
    the environment or the fleet's .env, never in a file that is shared and committed."""
    fix = "write redis://HOST:6379/0 (or rediss:// for TLS)"
    url = c.scalar(node, "broker", str, fix).strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        c.fail(node, "broker", f"{url!r} is not a URL ({e})", fix)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        c.fail(node, "broker", f"{url!r} is not a redis:// or rediss:// URL with a host", fix)
    if parts.password is not None:
        c.fail(node, "broker", "holds a password, and fleet.yaml is no place for one",
               f"remove it from the URL and set {BROKER_PASSWORD_ENV} in the environment or in the fleet's .env")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        c.fail(node, "broker", f"the database {db!r} is not a number", fix)
    if parts.query or parts.fragment:
        c.fail(node, "broker", "has options after '?' or '#', which robe does not read", fix)
    del port
    return url


def _ports(c: _Checker, node) -> tuple[int, int]:
    pm = {k: vn for k, _, vn in c.mapping(node, "ports", ("first", "last"))}
    first = c.port(pm["first"], "ports.first") if "first" in pm else DEFAULT_PORTS[0]
    last = c.port(pm["last"], "ports.last") if "last" in pm else DEFAULT_PORTS[1]
    if first > last:
        c.fail(node, "ports", f"first ({first}) is above last ({last})", "swap them")
    return first, last


def _services(c: _Checker, node) -> list[Service]:
    services = []
    for name, _, sn in c.mapping(node, "services"):
        sm = {k: vn for k, _, vn in c.mapping(sn, f"services.{name}", ("check", "restart"))}
        check = c.scalar(sm["check"], f"services.{name}.check", str,
                         "write a URL such as http://127.0.0.1:11434/ or tcp://127.0.0.1:8080") if "check" in sm else None
        restart = c.argv(sm["restart"], f"services.{name}.restart") if "restart" in sm else ()
        services.append(Service(name, check, restart))
    return services


def _wizard_name(c: _Checker, node, key: str, names: list[str]) -> str:
    """A value that must name one of the fleet's wizards."""
    name = c.scalar(node, key, str, "name one of the wizards")
    if name not in names:
        c.fail(node, key, f"there is no wizard named {name!r}{did_you_mean(name, names)}",
               f"name one of: {', '.join(names) or '(no wizards yet)'}")
    return name


def _routes(c: _Checker, node, names: list[str]) -> list[Route]:
    if not (isinstance(node, yaml.SequenceNode) or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))):
        c.fail(node, "routes", f"expected a list of routes, found {c._describe(node)}",
               "write each route as '- match: {tags: [research]}' with 'wizard: NAME' under it")
    routes = []
    for i, item in enumerate(node.value if isinstance(node, yaml.SequenceNode) else []):
        key = f"routes[{i}]"
        rm = {k: (kn, vn) for k, kn, vn in c.mapping(item, key, ("match", "wizard"))}
        if "wizard" not in rm:
            c.fail(item, key, "has no wizard", "add 'wizard: NAME' naming the wizard that takes these tasks")
        wname = _wizard_name(c, rm["wizard"][1], f"{key}.wizard", names)
        match = _match(c, rm["match"][1], key) if "match" in rm else {}
        routes.append(Route(match=match, wizard=wname, line=item.start_mark.line + 1))
    return routes


def _match(c: _Checker, node, key: str) -> dict[str, Any]:
    match: dict[str, Any] = {}
    for mk, _, mv in c.mapping(node, f"{key}.match", ROUTE_KEYS):
        mkey = f"{key}.match.{mk}"
        if mk == "tags":
            match[mk] = tuple(t.lower() for t in c.str_list(mv, mkey, "write tags as a list, e.g. [research]"))
        elif mk == "priority":
            vals = c.str_list(mv, mkey, "write P0..P3 or a list of them")
            bad = [v for v in vals if v.upper() not in PRIORITIES]
            if bad:
                c.fail(mv, mkey, f"{bad[0]!r} is not a priority", "write P0, P1, P2 or P3")
            match[mk] = tuple(v.upper() for v in vals)
        else:
            match[mk] = c.str_list(mv, mkey, f"write {mk} as a word or a list of words")
    return match


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

    def opt(k, fn, default, *args):
        return fn(fields[k][1], f"{key}.{k}", *args) if k in fields else default

    house = opt("house", c.path_value, os.path.join(root_dir, name), c.folder)
    home = opt("home", c.path_value, os.path.join(house, "home"), c.folder)
    agent = _agent(c, fields["agent"][1], f"{key}.agent") if "agent" in fields else Agent(kind="hermes")
    gateway = Gateway(DEFAULT_HERMES_GATEWAY, DEFAULT_HEALTH.format(port=port)) if agent.kind == "hermes" else None
    if "gateway" in fields:
        gateway = _gateway(c, fields["gateway"][1], f"{key}.gateway", port)
    return Wizard(
        name=name, port=port, house=house, home=home, agent=agent, gateway=gateway,
        queue=opt("queue", c.path_value, os.path.join(house, "WORK-QUEUE.md"), c.folder),
        role=opt("role", c.scalar, "", str, "write the role as one line of text"),
        lineage=opt("lineage", c.scalar, "", str, "write the lineage as one line of text"),
        relationships=_texts(c, fields["relationships"][1], f"{key}.relationships", "write one line of text")
        if "relationships" in fields else EMPTY,
        max_active=opt("max_active", c.positive, 1),
        max_parallel=opt("max_parallel", c.positive, 1),
        dispatch_floor=opt("dispatch_floor", c.priority, "P3"),
        timeout=opt("timeout", c.positive, 1800, " of seconds"),
        lease=opt("lease", c.positive, 600, " of seconds"),
        max_attempts=opt("max_attempts", c.positive, 3),
        schedule=_texts(c, fields["schedule"][1], f"{key}.schedule",
                        'write a cron expression in quotes, e.g. "*/15 * * * *"') if "schedule" in fields else EMPTY,
        line=kn.start_mark.line + 1,
        budget=opt("budget", lambda n, k: _budget(c, n, k), NO_BUDGET),
    )


def _budget(c: _Checker, node, key: str) -> Budget:
    """``budget: {tokens_per_day, cost_per_day, seconds_per_day, tokens_per_task}``, each a positive number."""
    vals = {}
    for k, _, vn in c.mapping(node, key, BUDGET_KEYS, what="the budget's limits"):
        full = f"{key}.{k}"
        if k == "cost_per_day":
            v = c.scalar(vn, full, float, "write an amount in US dollars, e.g. 5 or 2.50")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                c.fail(vn, full, f"{vn.value!r} is not an amount above 0", "write an amount in US dollars, e.g. 5 or 2.50")
            vals[k] = float(v)
        else:
            unit = " of seconds" if k == "seconds_per_day" else " of tokens"
            vals[k] = c.positive(vn, full, unit)
    return Budget(**vals)


def _alerts(c: _Checker, node) -> Alerts:
    """``alerts: {command: [argv], webhook: URL or {url, fields}, on: [...], dead_after, retries, timeout}``."""
    am = {k: vn for k, _, vn in c.mapping(node, "alerts", ALERT_KEYS, what="where alerts go")}
    if "command" not in am and "webhook" not in am:
        c.fail(node, "alerts", "says neither where to send alerts",
               "add 'command: [notify-me, \"{text}\"]' or 'webhook: https://...', or remove 'alerts'")
    vals: dict[str, Any] = {}
    if "command" in am:
        vals["command"] = c.argv(am["command"], "alerts.command")
    if "webhook" in am:
        vals["webhook"] = _webhook(c, am["webhook"])
    if "on" in am:
        on = c.str_list(am["on"], "alerts.on", f"write a list of: {', '.join(ALERT_KINDS)}")
        bad = [k for k in on if k not in ALERT_KINDS]
        if bad:
            c.fail(am["on"], "alerts.on", f"{bad[0]!r} is not an occasion for an alert{did_you_mean(bad[0], ALERT_KINDS)}",
                   f"write some of: {', '.join(ALERT_KINDS)}")
        vals["on"] = tuple(dict.fromkeys(on))
    if "dead_after" in am:
        vals["dead_after"] = c.positive(am["dead_after"], "alerts.dead_after", " of minutes")
    if "retries" in am:
        vals["retries"] = c.positive(am["retries"], "alerts.retries")
    if "timeout" in am:
        vals["timeout"] = c.positive(am["timeout"], "alerts.timeout", " of seconds")
    return Alerts(**vals)


def _webhook(c: _Checker, node) -> Webhook:
    fix = "write an http:// or https:// URL, or {url: https://..., fields: {chat_id: 123}}"
    fields: dict = {}
    if isinstance(node, yaml.MappingNode):
        wm = {k: vn for k, _, vn in c.mapping(node, "alerts.webhook", ("url", "fields"))}
        if "url" not in wm:
            c.fail(node, "alerts.webhook", "has no url", fix)
        unode = wm["url"]
        if "fields" in wm:
            if not isinstance(wm["fields"], yaml.MappingNode):
                c.fail(wm["fields"], "alerts.webhook.fields", f"expected a mapping, found {c._describe(wm['fields'])}",
                       "write extra keys of the JSON body, e.g. {chat_id: 123}")
            fields = c.plain(wm["fields"], "alerts.webhook.fields", "")
    else:
        unode = node
    url = c.scalar(unode, "alerts.webhook", str, fix)
    if not (url.startswith("http://") or url.startswith("https://")):
        c.fail(unode, "alerts.webhook", f"{url!r} is not an http:// or https:// URL", fix)
    return Webhook(url, fields)


def _texts(c: _Checker, node, key: str, fix: str) -> dict[str, str]:
    """A mapping of names to one line of text each (schedule, relationships)."""
    return {k: c.scalar(v, f"{key}.{k}", str, fix) for k, _, v in c.mapping(node, key)}


def _agent(c: _Checker, node, key: str) -> Agent:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        kind_node, amap = node, {"kind": (node, node)}
    else:
        amap = {k: (kk, vn) for k, kk, vn in c.mapping(node, key, None, what="the agent's settings")}
        if "kind" not in amap:
            c.fail(node, key, "has no kind", f"add 'kind:' with one of: {', '.join(AGENT_KINDS)}")
        kind_node = amap["kind"][1]
    kind = c.scalar(kind_node, f"{key}.kind", str, f"write one of: {', '.join(AGENT_KINDS)}")
    if kind not in AGENT_KINDS:
        c.fail(kind_node, f"{key}.kind", f"{kind!r} is not an agent kind{did_you_mean(kind, AGENT_KINDS)}",
               f"write one of: {', '.join(AGENT_KINDS)}")
    allowed = AGENT_KEYS[kind]
    vals: dict[str, Any] = {"kind": kind}
    for k, (kk, vn) in amap.items():
        if k == "kind":
            continue
        if k not in allowed:
            c.fail(kk, f"{key}.{k}", f"is not a setting of a {kind} agent{did_you_mean(k, allowed)}",
                   f"use one of: {', '.join(allowed[1:]) or '(none)'}")
        if k == "argv":
            vals["argv"] = c.argv(vn, f"{key}.argv")
        elif k == "context_length":
            vals[k] = c.positive(vn, f"{key}.{k}")
        elif k == "config":
            if not isinstance(vn, yaml.MappingNode):
                c.fail(vn, f"{key}.config", f"expected a mapping, found {c._describe(vn)}",
                       "write Hermes config.yaml settings under it, e.g. {agent: {environment_probe: false}}")
            vals[k] = c.plain(vn, f"{key}.config", "")
            for dotted in secret_settings(vals[k]):
                c.fail(vn, f"{key}.config.{dotted}", "is a secret written out in fleet.yaml, which others can read",
                       "delete it there; " + secret_advice(dotted).split("; ", 1)[1])
        elif k == "api_key_env":
            vals[k] = c.scalar(vn, f"{key}.{k}", str, "write the name of an environment variable, e.g. MODEL_API_KEY")
            if not ENV_NAME_RE.match(vals[k]):
                c.fail(vn, f"{key}.{k}", f"{vals[k]!r} is not the name of an environment variable",
                       "write a name of letters, digits and underscores, e.g. MODEL_API_KEY (the key itself goes "
                       "in the home's .env)")
        else:
            vals[k] = c.scalar(vn, f"{key}.{k}", str, f"write {k} as text")
    if kind == "openai":
        for need in ("base_url", "model"):
            if need not in vals:
                c.fail(node, key, f"an openai agent needs {need}",
                       f"add '{need}:' (e.g. base_url: http://127.0.0.1:11434/v1, model: qwen2.5:1.5b)")
    if kind == "command" and "argv" not in vals:
        c.fail(node, key, "a command agent needs argv", "add 'argv: [my-agent, --prompt-file, \"{prompt_file}\"]'")
    return Agent(**vals)


def _gateway(c: _Checker, node, key: str, port: int) -> Gateway | None:
    if isinstance(node, yaml.ScalarNode) and (node.tag.endswith(":null")
                                              or (node.tag.endswith(":bool") and c.value(node) is False)):
        return None
    gm = {k: vn for k, _, vn in c.mapping(node, key, ("start", "health"))}
    if "start" not in gm:
        c.fail(node, key, "has no start command", "add 'start: [hermes, gateway, run]' or remove 'gateway'")
    start = c.argv(gm["start"], f"{key}.start")
    health = DEFAULT_HEALTH
    if "health" in gm:
        fix = "write http://127.0.0.1:{port}/health or tcp://127.0.0.1:{port}"
        health = c.scalar(gm["health"], f"{key}.health", str, fix)
        if not (health.startswith("http://") or health.startswith("tcp://")):
            c.fail(gm["health"], f"{key}.health", f"{health!r} is neither http:// nor tcp://", fix)
    return Gateway(start, health.replace("{port}", str(port)))


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
