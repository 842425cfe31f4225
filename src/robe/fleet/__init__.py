"""The fleet: fleet.yaml, wizard houses, homes, ports, gateways, status and doctor.

| module       | owns                                                                  |
|--------------|-----------------------------------------------------------------------|
| config       | the model (Fleet, Wizard, Agent, Gateway, Route, Service), discovery,  |
|              | validation with file:line:key errors                                  |
| fleetfile    | editing fleet.yaml in place (add/remove a wizard, comments kept)      |
| houses       | house and home folders, SOUL.md, Hermes config.yaml, .env, scripts    |
| ports        | free ports, who holds a port, the next port to hand out               |
| wizards      | create / remove / init: the operations behind the commands            |
| gateway      | start / stop / status / health of a wizard's gateway, pid files       |
| status       | Robed / Unrobed / Lobster / Dead, executor liveness, claims           |
| doctor       | the seed's troubleshooting table as checks                            |

Only the standard library is imported here; PyYAML is imported where a file is read.
"""

from .config import Agent, Fleet, FleetError, Gateway, Route, Service, Wizard, find_fleet_file, load_fleet, parse_fleet

__all__ = ["Agent", "Fleet", "FleetError", "Gateway", "Route", "Service", "Wizard", "find_fleet_file", "load_fleet",
           "parse_fleet"]
