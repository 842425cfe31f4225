"""The broker: claims and results between machines, on Redis (or Valkey) streams.

Without ``broker:`` in fleet.yaml nothing here runs: the house folders are the transport. With
one, the hub (the machine holding the queue files) still claims with the O_EXCL file in its
house and still folds results into the markdown; what changes is how a claim reaches a wizard
on another machine and how its answer comes back (docs/contracts.md, "The broker").

| module  | owns                                                                       |
|---------|----------------------------------------------------------------------------|
| client  | the connection: URL, password (environment or the fleet's .env), errors    |
| streams | stream and key names, message fields, the server-side scripts              |
| hub     | the hub's side: publish a claim once, take results into the hub's houses,  |
|         | wake a long-running hub when results wait                                  |
| relay   | a host's side: read its wizards' streams into their houses, heartbeat,     |
|         | take over dead consumers' claims, send results back                        |
"""

from .client import Broker, BrokerError, broker_for, close_brokers
from .hub import (Ingested, ResultWatch, executors, ingest, joined_fleet, publish_claims, publish_fleet, server_facts,
                  watch_results)
from .relay import Relay, relay_for, start_relay, this_machine_wizards

__all__ = ["Broker", "BrokerError", "Ingested", "Relay", "ResultWatch", "broker_for", "close_brokers", "executors",
           "ingest", "joined_fleet", "publish_claims", "publish_fleet", "relay_for", "server_facts", "start_relay",
           "this_machine_wizards", "watch_results"]
