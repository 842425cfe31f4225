"""The schedule: which robe command runs for which wizard, and when.

The seed's cron table, per wizard, with its defaults (self-monitor every 5 minutes, dispatch
every 15 for allegro-primus and every 20 for the others, monitor every 10, report every 30,
checkpoint hourly), overridden by the wizard's ``schedule:`` in fleet.yaml. A job may be
turned off with ``off``. Expressions are checked here, with croniter, and reported as
fleet.yaml errors with the line of the entry.

fleet.yaml has no fleet-wide ``schedule:`` key (its loader rejects unknown top-level keys),
so overrides are per wizard only.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
from dataclasses import dataclass

import yaml
from croniter import croniter

from ..errors import RobeError

#: job name -> the robe command it runs (arguments after ``robe``), in the seed's order
JOBS = ("self-monitor", "dispatch", "monitor", "report", "checkpoint")
COMMAND = {
    "self-monitor": ("self-monitor",),
    "dispatch": ("dispatch",),
    "monitor": ("monitor",),
    "report": ("report",),
    "checkpoint": ("checkpoint",),
}
DEFAULTS = {
    "self-monitor": "*/5 * * * *",
    "dispatch": "*/20 * * * *",
    "monitor": "*/10 * * * *",
    "report": "*/30 * * * *",
    "checkpoint": "0 * * * *",
}
#: the seed's child works unattended, so it is dispatched more often
WIZARD_DEFAULTS = {"allegro-primus": {"dispatch": "*/15 * * * *"}}
OFF = ("off", "never", "none", "false", "no")
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_NAME = r"[0-9]+|[a-z]{3}"
_FIELD_RE = re.compile(rf"^(\*|(?:{_NAME})(?:-(?:{_NAME}))?)(/[0-9]+)?$", re.IGNORECASE)


class ScheduleError(RobeError):
    """A schedule entry in fleet.yaml that cron could not run."""


@dataclass(frozen=True)
class Entry:
    """One scheduled job of one wizard."""

    wizard: str
    job: str
    expr: str
    #: arguments after ``robe``
    args: tuple[str, ...]
    #: where the expression came from ("default" or "fleet.yaml:LINE")
    source: str = "default"

    def next_after(self, after: _dt.datetime) -> _dt.datetime:
        return next_run(self.expr, after)


def check_expr(expr: str) -> str | None:
    """None when cron and croniter both take ``expr``; else why not."""
    e = expr.strip()
    if e.startswith("@"):
        if e.lower() not in MACROS:
            return f"{e!r} is not a cron macro robe can schedule (use one of {', '.join(MACROS)})"
        return None
    fields = e.split()
    if len(fields) != 5:
        return (f"{e!r} has {len(fields)} fields; cron needs 5 (minute hour day-of-month month day-of-week)")
    for f in fields:
        if not all(_FIELD_RE.match(part) for part in f.split(",")):
            return f"{f!r} in {e!r} is not a cron field (write numbers, ranges a-b, lists a,b and steps */n)"
    try:
        croniter(e)
    except (ValueError, KeyError) as err:
        return f"{e!r} is not a valid cron expression ({err})"
    return None


def next_run(expr: str, after: _dt.datetime) -> _dt.datetime:
    """The first time after ``after`` that ``expr`` fires (local time, as cron reads it)."""
    return croniter(expr, after).get_next(_dt.datetime)


def _entry_lines(fleet_path: str) -> dict[tuple[str, str], int]:
    """(wizard, job) -> line of its schedule entry in fleet.yaml (0 when it cannot be read)."""
    try:
        with open(fleet_path, encoding="utf-8-sig") as f:
            root = yaml.compose(f.read(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[tuple[str, str], int] = {}

    def child(node, key):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    return v
        return None

    wizards = child(root, "wizards")
    if not isinstance(wizards, yaml.MappingNode):
        return out
    for kn, wn in wizards.value:
        sched = child(wn, "schedule")
        if isinstance(sched, yaml.MappingNode):
            for jk, jv in sched.value:
                out[(str(kn.value), str(jk.value))] = jv.start_mark.line + 1
    return out


def job_args(fleet, wizard, job: str) -> tuple[str, ...]:
    args = COMMAND[job] + ("--wizard", wizard.name)
    if job == "self-monitor" and wizard.name == services_keeper(fleet):
        args += ("--services",)
    return args


def services_keeper(fleet) -> str | None:
    """The wizard whose self-monitor also checks the fleet's shared services (one, so a service
    is not restarted by several wizards at once): the default wizard, else the first."""
    if not fleet.wizards:
        return None
    if fleet.default_wizard and fleet.default_wizard in fleet.names:
        return fleet.default_wizard
    return fleet.wizards[0].name


def fleet_schedule(fleet, wizards=None, *, overrides: dict | None = None) -> list[Entry]:
    """Every wizard's scheduled jobs, defaults first overridden by fleet.yaml (and ``overrides``,
    job -> expression, applied to every wizard: tests and ``robe cron --every``).

    ScheduleError (fleet.yaml:LINE: wizards.W.schedule.JOB: ...) for an unknown job or a bad
    expression.
    """
    selected = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    lines = None
    out: list[Entry] = []
    for w in selected:
        table = dict(DEFAULTS)
        table.update(WIZARD_DEFAULTS.get(w.name, {}))
        sources = {job: "default" for job in table}
        for job, expr in (w.schedule or {}).items():
            if lines is None:
                lines = _entry_lines(fleet.path)
            line = lines.get((w.name, job), w.line)
            where = f"{fleet.path}:{line}: wizards.{w.name}.schedule.{job}"
            if job not in JOBS:
                import difflib

                close = difflib.get_close_matches(job, JOBS, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ScheduleError(f"{where}: unknown job{hint}; use one of: {', '.join(JOBS)}")
            expr = str(expr).strip()
            if expr.lower() in OFF:
                table[job] = None
            else:
                why = check_expr(expr)
                if why:
                    raise ScheduleError(f"{where}: {why}; write five fields in quotes, e.g. \"*/15 * * * *\", "
                                        "or 'off'")
                table[job] = expr
            sources[job] = f"fleet.yaml:{line}"
        for job, expr in (overrides or {}).items():
            why = check_expr(expr) if expr not in OFF else None
            if why:
                raise ScheduleError(f"--every {job}: {why}")
            table[job] = None if expr in OFF else expr
            sources[job] = "command line"
        for job in JOBS:
            if table.get(job):
                out.append(Entry(w.name, job, table[job], job_args(fleet, w, job), sources[job]))
    return out


def robe_command() -> list[str]:
    """The absolute argv that runs this same robe (cron's PATH is bare, and a virtualenv's robe
    is not on it): the ``robe`` script beside this Python when there is one, else ``python -m robe``."""
    exe = os.path.abspath(sys.executable)  # not realpath: a virtualenv's python is a link
    script = os.path.join(os.path.dirname(exe), "robe")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [exe, "-m", "robe"]
