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


def wizard_status(w: Wizard, *, at: _dt.datetime | None = None, pause=None) -> WizardStatus:
    g = gateway_status(w)
    ex = executor_liveness(w, at=at)
    up = None if g.state == "none" else g.healthy
    counts, err = queue_counts(w)
    return WizardStatus(w, state_of(up, ex.alive), g, ex, counts, err, active_claims(w, at=at), pause)


def fleet_status(fleet: FleetConfig, names: list[str] | None = None, *, at: _dt.datetime | None = None) -> list[WizardStatus]:
    wizards = [fleet.wizard(n) for n in names] if names else list(fleet.wizards)
    paused = pauses(fleet, [w.name for w in wizards], now=at)
    return [wizard_status(w, at=at, pause=paused.get(w.name)) for w in wizards]
