"""``robe doctor``: the seed's troubleshooting table as checks, each OK, WARN or FAIL with its fix.

The fleet's own checks (ports, homes, permissions, config.yaml, gateways, queues) live in
``robe.fleet.checks``; this module adds the schedule's (are the cron entries installed and in
step with fleet.yaml?) and is what the command and the Python API call.
"""

from __future__ import annotations

from .broker import BrokerError, broker_for, server_facts
from .cron.crontab import doctor_checks as cron_checks
from .fleet.checks import FAIL, OK, WARN, Check, check_fleet, summary
from .fleet.config import FleetError, load_fleet

__all__ = ["FAIL", "OK", "WARN", "Check", "doctor", "summary"]


def doctor(fleet_path: str | None = None, *, cron: bool = True) -> list[Check]:
    """Every check of the fleet at ``fleet_path`` (found as usual when None)."""
    checks = check_fleet(fleet_path)
    if not any(c.level == FAIL and c.name == "config" for c in checks):
        try:
            # Faults between wizards (a shared port or home) are already FAIL lines above;
            # collect them again here instead of stopping at the first.
            fleet = load_fleet(fleet_path, problems=[])
        except FleetError:
            return checks
        if cron:
            checks += cron_checks(fleet)
        checks += broker_checks(fleet)
    return checks


def broker_checks(fleet) -> list[Check]:
    """The broker of a fleet that has one: reachable, persistent (AOF or RDB snapshots: a restart
    of a broker without either loses every claim in flight), and its version (streams with
    XAUTOCLAIM need Redis 6.2 or Valkey)."""
    if not fleet.broker:
        return []
    try:
        b = broker_for(fleet)
        facts = server_facts(b)
    except BrokerError as e:
        return [Check(FAIL, "fleet", "broker", str(e),
                      f"start the broker, or correct 'broker:' in {fleet.path} (its password: ROBE_BROKER_PASSWORD)")]
    out = [Check(OK, "fleet", "broker", f"{b.where} answers ({facts['server']} {facts['version']})")]
    if facts["server"] == "redis" and _version(facts["version"]) < (6, 2):
        out.append(Check(FAIL, "fleet", "broker", f"{facts['server']} {facts['version']} has no XAUTOCLAIM",
                         "use Redis 6.2 or later, or Valkey"))
    if facts["aof"] or facts["rdb"]:
        kept = " and ".join(k for k in ("AOF", "RDB") if facts[k.lower()])
        out.append(Check(OK, "fleet", "broker", f"persistence is on ({kept})"))
    else:
        out.append(Check(FAIL, "fleet", "broker", "persistence is off: a restart of the broker loses every claim "
                         "and result in flight", "turn on 'appendonly yes' (or RDB 'save') in the server's config"))
    return out


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(".")[:2])
    except ValueError:
        return (0,)
