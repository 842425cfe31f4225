"""The fleet: fleet.yaml, wizard houses and homes, ports, gateways, status and health checks.

| module       | owns                                                                    |
|--------------|-------------------------------------------------------------------------|
| model        | FleetConfig, Wizard, Agent, Gateway, Route, Service                     |
| validate     | fleet.yaml's text to the model, errors with file:line: key: fix         |
| config       | finding, reading and loading fleet.yaml                                 |
| fleetfile    | editing fleet.yaml in place (add/remove/change a wizard, comments kept) |
| homes        | house and home folders, SOUL.md, Hermes config.yaml, .env, scripts      |
| ports        | free ports, who holds a port, the next port to hand out                 |
| wizards      | create / set / remove / init: the operations behind the commands        |
| gateway      | start / stop / status / health of a wizard's gateway, pid files         |
| status       | Robed / Unrobed / Lobster / Dead, executor liveness, claims             |
| checks       | the seed's troubleshooting table as checks (robe doctor's fleet part)   |
| answers      | a task's attempts and answers across the houses (show, answer, history) |
| spend        | spend per wizard from the results; the daily budgets that pause a wizard |
| alerts       | alerts to a command or a webhook, once per occurrence, retried          |
"""

from .config import find_fleet_file, load_fleet
from .model import Agent, FleetConfig, FleetError, Gateway, Route, Service, Wizard
from .validate import parse_fleet

__all__ = ["Agent", "FleetConfig", "FleetError", "Gateway", "Route", "Service", "Wizard", "find_fleet_file",
           "load_fleet", "parse_fleet"]
