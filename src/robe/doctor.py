"""``robe doctor``: the seed's troubleshooting table as checks, each OK, WARN or FAIL with its fix.

The fleet's own checks (ports, homes, permissions, config.yaml, gateways, queues) live in
``robe.fleet.checks``; this module adds the schedule's (are the cron entries installed and in
step with fleet.yaml?) and is what the command and the Python API call.
"""

from __future__ import annotations

from .cron.crontab import doctor_checks as cron_checks
from .fleet.checks import FAIL, OK, WARN, Check, check_fleet, summary
from .fleet.config import FleetError, load_fleet

__all__ = ["FAIL", "OK", "WARN", "Check", "doctor", "summary"]


def doctor(fleet_path: str | None = None, *, cron: bool = True) -> list[Check]:
    """Every check of the fleet at ``fleet_path`` (found as usual when None)."""
    checks = check_fleet(fleet_path)
    if cron and not any(c.level == FAIL and c.name == "config" for c in checks):
        try:
            # Faults between wizards (a shared port or home) are already FAIL lines above;
            # collect them again here instead of stopping at the first.
            fleet = load_fleet(fleet_path, problems=[])
        except FleetError:
            return checks
        checks += cron_checks(fleet)
    return checks
