"""The typed model of a fleet (what fleet.yaml says, validated) and its constants.

``robe.fleet.validate`` makes these from fleet.yaml's text; ``robe.fleet.config`` finds and
reads the file.
"""

from __future__ import annotations

import difflib
import os
import re
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

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

TOP_KEYS = ("root", "codebase", "ports", "default_wizard", "default_priority", "services", "wizards", "routes",
            "max_open_asks", "budget", "alerts", "broker", "hub", "host")
#: how many unanswered questions one wizard (or person) may have asked at once (robe ask)
DEFAULT_MAX_OPEN_ASKS = 5
WIZARD_KEYS = ("role", "port", "house", "home", "queue", "agent", "gateway", "max_active", "max_parallel",
               "dispatch_floor", "timeout", "lease", "max_attempts", "schedule", "lineage", "relationships", "budget",
               "host")
#: a machine's name as fleet.yaml's ``host`` and ``hub`` give it (letters, digits, dots, dashes)
HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
#: the environment variable (or line of the fleet's .env) that holds the broker's password
BROKER_PASSWORD_ENV = "ROBE_BROKER_PASSWORD"
AGENT_KEYS = {
    "hermes": ("kind", "model", "provider", "base_url", "context_length", "api_key_env", "config"),
    "openai": ("kind", "model", "base_url", "api_key_env", "context_length", "config"),
    "command": ("kind", "argv"),
    "echo": ("kind",),
}


#: a budget's limits (per wizard, and for the whole fleet): daily ones pause claims, the per-task one
#: stops an agent that reports its usage as it runs
BUDGET_KEYS = ("tokens_per_day", "cost_per_day", "seconds_per_day", "tokens_per_task")
ALERT_KEYS = ("command", "webhook", "on", "dead_after", "retries", "timeout")
#: what alerts are sent for: a task's final failure, a wizard paused by a budget, a wizard Dead
#: for ``dead_after`` minutes, a success metric missed
ALERT_KINDS = ("failed", "paused", "dead", "metric")
#: Hermes needs a model context of at least this many tokens (hermes-agent's MINIMUM_CONTEXT_LENGTH)
HERMES_MIN_CONTEXT = 64_000
#: the name a model's API key gets in a home's .env when the person names none
DEFAULT_KEY_ENV = "MODEL_API_KEY"
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SECRET_NAME_RE = re.compile(r"(?:^|_)(?:key|api|token|secret|password)$", re.IGNORECASE)
_REFERENCE_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def secret_settings(mapping: Mapping, prefix: str = "") -> list[str]:
    """The dotted keys in ``mapping`` (settings for a Hermes config.yaml) that hold a secret
    written out (``model.api_key: sk-...``) rather than a ``${VAR}`` reference to the home's .env."""
    found = []
    for k, v in mapping.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, Mapping):
            found += secret_settings(v, dotted + ".")
        elif isinstance(v, str) and v.strip() and _SECRET_NAME_RE.search(str(k)) and not _REFERENCE_RE.fullmatch(v):
            found.append(dotted)
    return found


def secret_advice(dotted: str) -> str:
    return (f"{dotted} would put a secret in config.yaml (and fleet.yaml, which others can read); give the model's "
            "key with --api-key - (read from stdin) or --api-key-env NAME: robe keeps it in the home's .env (0600) "
            "and config.yaml names it as ${NAME}")


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


class Budget(NamedTuple):
    """Daily allowances (per UTC day) and the per-task token cap; None: no limit."""

    tokens_per_day: int | None = None
    cost_per_day: float | None = None
    seconds_per_day: float | None = None
    tokens_per_task: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in self)

    def to_dict(self) -> dict:
        return {k: v for k, v in self._asdict().items() if v is not None}


NO_BUDGET = Budget()


class Webhook(NamedTuple):
    #: may hold ``${VAR}``: filled in from the environment when the alert is sent (a bot token)
    url: str
    #: extra keys of the JSON body (e.g. Telegram's ``chat_id``)
    fields: Mapping = EMPTY


class Alerts(NamedTuple):
    """Where alerts go (a command, a webhook, or both) and for what."""

    command: tuple[str, ...] = ()
    webhook: Webhook | None = None
    on: tuple[str, ...] = ALERT_KINDS
    #: minutes a wizard may be Dead before an alert
    dead_after: int = 30
    #: tries of one delivery within a run (then it waits for the next run)
    retries: int = 3
    #: seconds a command or the webhook may take
    timeout: int = 10

    def __bool__(self) -> bool:
        return bool(self.command) or self.webhook is not None


NO_ALERTS = Alerts()


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
    budget: Budget = NO_BUDGET
    #: the machine that runs this wizard's executor (fleet.yaml ``host``; default: the hub)
    host: str = ""

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
            "max_attempts": self.max_attempts, "schedule": dict(self.schedule), "budget": self.budget.to_dict(),
            "host": self.host,
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
    max_open_asks: int = DEFAULT_MAX_OPEN_ASKS
    #: the whole fleet's daily allowance (over it, no wizard gets new claims)
    budget: Budget = NO_BUDGET
    alerts: Alerts = NO_ALERTS
    #: redis:// or rediss:// URL of the broker that carries claims and results between machines
    #: (None: the house folders do, on one machine)
    broker: str | None = None
    #: the machine that holds the queue files and runs dispatch and monitor
    hub: str = ""
    #: this machine's name in the fleet (fleet.yaml ``host``, else $ROBE_HOST, else its hostname)
    host: str = ""

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    def runs_here(self, w: Wizard) -> bool:
        """Whether this machine runs ``w``'s executor."""
        return w.host == self.host

    def via_broker(self, w: Wizard) -> bool:
        """Whether ``w``'s claims and results travel through the broker: a broker is set and the
        wizard runs on another machine than the hub (the hub's own wizards keep the house files)."""
        return bool(self.broker) and w.host != self.hub

    @property
    def names(self) -> list[str]:
        return [w.name for w in self.wizards]

    def wizard(self, name: str) -> Wizard:
        for w in self.wizards:
            if w.name == name:
                return w
        hint = did_you_mean(name, self.names)
        known = ", ".join(self.names) or "none yet"
        raise FleetError(f"{self.path}: there is no wizard named {name!r}{hint}; "
                         f"the fleet has: {known} (add one with 'robe wizard create {name}')")


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
