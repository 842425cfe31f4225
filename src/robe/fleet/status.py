"""'robe status': each wizard's state (Robed, Unrobed, Lobster, Dead), queue counts and claims.

The state comes from the seed's Robed Architecture: the robe is the gateway (its health
check), the body is the executor (its heartbeat in ``<house>/logs/executor.json``). A wizard
without a configured gateway needs none: it is Robed when its executor lives, else Dead.
A wizard a daily budget pauses (robe.fleet.spend) keeps its state and is shown as paused.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field

from ..broker import BrokerError, broker_for, executors
from ..clock import now as _now
from ..clock import parse_stamp
from ..house import ActiveClaim, Executor, House
from ..queue import QueueError, load
from .gateway import gateway_status
from .model import FleetConfig, Wizard
from .spend import pauses

ROBED, UNROBED, LOBSTER, DEAD = "Robed", "Unrobed", "Lobster", "Dead"


def state_of(gateway_up: bool | None, executor_up: bool) -> str:
    """The seed's four states; ``gateway_up`` None means the wizard has no gateway."""
    if gateway_up is None:
        return ROBED if executor_up else DEAD
    if gateway_up:
        return ROBED if executor_up else LOBSTER
    return UNROBED if executor_up else DEAD


def executor_liveness(w: Wizard, *, at: _dt.datetime | None = None) -> Executor:
    """Whether the wizard's executor (the body) is alive: its logs/executor.json."""
    return House(w.house, w.name).executor(at=at)


def active_claims(w: Wizard, *, at: _dt.datetime | None = None) -> list[ActiveClaim]:
    """The claims in the wizard's work/, with their age."""
    return House(w.house, w.name).active_claims(at=at)


@dataclass
class WizardStatus:
    wizard: Wizard
    state: str
    gateway: object  # GatewayStatus
    executor: Executor
    counts: dict = field(default_factory=dict)
    queue_error: str | None = None
    claims: list[ActiveClaim] = field(default_factory=list)
    #: robe.fleet.spend.Pause when a daily budget is used up: no new claims until it says
    pause: object = None

    def to_dict(self) -> dict:
        return {
            "wizard": self.wizard.name, "state": self.state, "port": self.wizard.port,
            "gateway": self.gateway.to_dict(), "executor": self.executor.to_dict(),
            "queue": self.wizard.queue, "counts": self.counts, "queue_error": self.queue_error,
            "claims": [c.to_dict() for c in self.claims],
            "paused": self.pause.to_dict() if self.pause is not None else None,
        }


def queue_counts(w: Wizard, names: set[str] | None = None) -> tuple[dict, str | None]:
    if not os.path.exists(w.queue):
        return {}, f"{w.queue} does not exist"
    try:
        q = load(w.queue)
    except QueueError as e:
        return {}, str(e)
    return {k: v for k, v in q.counts().items() if v}, None


#: an executor on another machine that has not reported to the broker for this long is down
#: (it reports every 5 s while its relay runs)
REMOTE_STALE_S = 30.0


@dataclass
class HostExecutor:
    """An executor process of some machine, as it last reported to the broker."""

    host: str
    pid: int | None
    wizards: list
    heartbeat_at: str
    age_s: float | None
    running: list

    @property
    def alive(self) -> bool:
        return self.age_s is not None and self.age_s <= REMOTE_STALE_S

    def to_dict(self) -> dict:
        return {"host": self.host, "pid": self.pid, "wizards": self.wizards, "heartbeat_at": self.heartbeat_at,
                "age_s": None if self.age_s is None else round(self.age_s, 1), "alive": self.alive,
                "running": self.running}


def host_executors(fleet: FleetConfig, *, at: _dt.datetime | None = None) -> tuple[list[HostExecutor], str | None]:
    """Every machine's executors as the broker knows them, with the age of their last report;
    ([], None) without a broker, ([], the sentence) when it cannot be reached."""
    if not fleet.broker:
        return [], None
    try:
        records = executors(broker_for(fleet))
    except BrokerError as e:
        return [], str(e)
    at = at or _now()
    out = []
    for r in records:
        beat = parse_stamp(r.get("heartbeat_at"))
        out.append(HostExecutor(str(r.get("host") or "?"), r.get("pid"), list(r.get("wizards") or []),
                                str(r.get("heartbeat_at") or ""), (at - beat).total_seconds() if beat else None,
                                list(r.get("running") or [])))
    return sorted(out, key=lambda e: (e.host, e.pid or 0)), None


def _remote_executor(w: Wizard, hosts: list[HostExecutor]) -> Executor:
    mine = [e for e in hosts if w.name in e.wizards]
    live = [e for e in mine if e.alive]
    if live:
        return Executor(True, live[0].pid, f"executor pid {live[0].pid} on {live[0].host} reported "
                                           f"{live[0].age_s:.0f} s ago")
    if mine:
        return Executor(False, None, f"its executor on {mine[0].host} has not reported for {mine[0].age_s or 0:.0f} s")
    return Executor(False, None, f"no executor on {w.host} has reported to the broker")


def wizard_status(w: Wizard, *, at: _dt.datetime | None = None, pause=None,
                  hosts: list[HostExecutor] | None = None) -> WizardStatus:
    g = gateway_status(w)
    ex = executor_liveness(w, at=at) if hosts is None else _remote_executor(w, hosts)
    up = None if g.state == "none" else g.healthy
    counts, err = queue_counts(w)
    return WizardStatus(w, state_of(up, ex.alive), g, ex, counts, err, active_claims(w, at=at), pause)


def fleet_status(fleet: FleetConfig, names: list[str] | None = None, *, at: _dt.datetime | None = None) -> list[WizardStatus]:
    wizards = [fleet.wizard(n) for n in names] if names else list(fleet.wizards)
    paused = pauses(fleet, [w.name for w in wizards], now=at)
    remote = [w for w in wizards if fleet.via_broker(w)]
    hosts = host_executors(fleet, at=at)[0] if remote else []
    return [wizard_status(w, at=at, pause=paused.get(w.name), hosts=hosts if w in remote else None)
            for w in wizards]
