"""robe cron show|install|remove, robe self-monitor, robe run and robe demo."""

from __future__ import annotations

import logging
import sys

import click

from ..cron import crontab as ct
from ..cron.schedule import fleet_schedule
from ..cron.selfmonitor import self_monitor as run_self_monitor
from ..demo import run_demo
from ..engine import Engine, Options, install_signal_handlers
from ..fleet.config import load_fleet
from .common import echo_json, examples, fleet_option, json_option, wizards_option
from .dashboard import start_beside_run


def systemd_options(f):
    f = click.option("--unit-dir", metavar="DIR",
                     help="Where the units go (default: ~/.config/systemd/user).")(f)
    return click.option("--systemd", is_flag=True, help="systemd user timers and services instead of crontab lines.")(f)


def _load(fleet_path, wizards):
    fleet = load_fleet(fleet_path)
    return fleet, fleet_schedule(fleet, list(wizards) or None)


@click.group(epilog=examples("robe cron show", "robe cron install"))
def cron():
    """The seed's cron schedule: show it, install it into your crontab, remove it.

    \b
    Per wizard (defaults, overridable in fleet.yaml under the wizard's 'schedule:'):
      self-monitor  */5 * * * *    gateways, executors and shared services
      dispatch      */20 * * * *   (*/15 for allegro-primus) claim the next tasks
      monitor       */10 * * * *   fold results into WORK-QUEUE.md
      report        */30 * * * *   progress report
      checkpoint    0 * * * *      git checkpoint
    A job is turned off with 'off'. Without cron, 'robe run' runs the same schedule.
    """


@cron.command(epilog=examples("robe cron show -w ezra", "robe cron show --systemd"))
@fleet_option
@wizards_option
@systemd_options
@json_option
def show(fleet_path, wizards, systemd, unit_dir, as_json):
    """Print the crontab lines (or systemd units) that install would write."""
    fleet, entries = _load(fleet_path, wizards)
    if as_json:
        echo_json([{"wizard": e.wizard, "job": e.job, "schedule": e.expr, "source": e.source,
                    "command": ct.job_argv(fleet, e), "line": ct.cron_line(fleet, e)} for e in entries])
        return
    if systemd:
        for e in entries:
            service, timer = ct.unit_texts(fleet, e)
            click.echo(f"# {ct.unit_name(e)}.service\n{service}\n# {ct.unit_name(e)}.timer\n{timer}")
        return
    for lines in ct.sections(fleet, entries).values():
        for line in lines:
            click.echo(line)


@cron.command(epilog=examples("robe cron install", "robe cron install --systemd"))
@fleet_option
@wizards_option
@systemd_options
def install(fleet_path, wizards, systemd, unit_dir):
    """Merge the schedule into your crontab as one block between marker lines.

    Every other line of the crontab (other jobs, comments, MAILTO=) stays byte for byte; run it
    again after changing fleet.yaml and the block is replaced. With --wizard only that wizard's
    lines are replaced. Each job runs under 'flock -n', so a slow run is never doubled, and
    appends its output to the wizard's logs/cron.log.
    """
    fleet, entries = _load(fleet_path, wizards)
    if systemd:
        written = ct.install_systemd(fleet, entries, unit_dir)
        timers = " ".join(sorted({f"{ct.unit_name(e)}.timer" for e in entries}))
        click.echo(f"wrote {len(written)} units in {unit_dir or ct.default_unit_dir()}; enable them with:\n"
                   f"  systemctl --user daemon-reload && systemctl --user enable --now {timers}\n"
                   f"  loginctl enable-linger $USER   # so they run while you are logged out")
        return
    _, changed = ct.install(fleet, entries, list(wizards) or None)
    n = len(entries)
    who = ", ".join(dict.fromkeys(e.wizard for e in entries))
    click.echo(f"crontab: {n} robe job(s) for {who} {'installed' if changed else 'already installed; nothing changed'}"
               "; see them with 'crontab -l'")
    if changed and any(e.job == "self-monitor" for e in entries):
        click.echo("the self-monitor job starts each wizard's executor within 5 minutes; "
                   "run 'robe self-monitor' to start them now")


@cron.command(epilog=examples("robe cron remove", "robe cron remove -w ezra"))
@fleet_option
@wizards_option
@systemd_options
def remove(fleet_path, wizards, systemd, unit_dir):
    """Take robe's block (or one wizard's lines) out of your crontab; nothing else changes."""
    fleet = load_fleet(fleet_path)
    for n in wizards:
        fleet.wizard(n)
    if systemd:
        removed = ct.remove_systemd(fleet, list(wizards) or None, unit_dir)
        click.echo(f"removed {len(removed)} units" + ("; run 'systemctl --user daemon-reload'" if removed else ""))
        return
    changed = ct.remove(fleet, list(wizards) or None)
    click.echo("crontab: robe's lines removed" if changed else "crontab: no robe lines for this fleet; nothing changed")


@click.command("self-monitor", epilog=examples("robe self-monitor", "robe self-monitor --no-restart --json"))
@fleet_option
@wizards_option
@click.option("--services/--no-services", default=None,
              help="Also check the fleet's shared services (default: when no --wizard is given).")
@click.option("--no-restart", is_flag=True, help="Only check and record; restart nothing.")
@click.option("--wait", type=float, default=10.0, show_default=True, metavar="S",
              help="Seconds to wait for a restarted executor or service to come up.")
@json_option
def self_monitor(fleet_path, wizards, services, no_restart, wait, as_json):
    """Check shared services, gateways and executors; restart what is down.

    Appends one uptime sample per wizard and service to logs/uptime.jsonl. Exit 1 when
    something is still down after its restart.
    """
    fleet = load_fleet(fleet_path)
    checks = run_self_monitor(fleet, list(wizards) or None, services=services, restart=not no_restart, wait=wait)
    if as_json:
        echo_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            what = f"wizard {c.wizard}" if c.wizard else f"service {c.service}"
            state = "up" if c.up else ("restarted" if c.up_now else "DOWN")
            click.echo(f"{what}: {state}: {c.detail}")
    if any(not c.up_now for c in checks):
        sys.exit(1)


@click.command(epilog=examples("robe run", "robe run -w ezra --progress --dashboard 8650"))
@fleet_option
@wizards_option
@click.option("--no-execute", is_flag=True, help="Dispatch and monitor only; executors run elsewhere.")
@click.option("--debounce", type=float, default=0.0, show_default=True, metavar="S",
              help="Seconds a finished save waits before its dispatch (a burst of saves gives one).")
@click.option("--grace", type=float, default=10.0, show_default=True, metavar="S",
              help="Seconds running jobs and agents may finish after SIGTERM/SIGINT.")
@click.option("--progress/--no-progress", default=None,
              help="A status line of running/queued/done/failed per wizard and tasks/s "
                   "[default: on when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings and errors.")
@click.option("--verbose", "-v", is_flag=True, help="Also log every job started and finished.")
@click.option("--dashboard", "dashboard_at", metavar="[HOST:]PORT",
              help="Also serve the dashboard here (see robe dashboard); loopback unless HOST says otherwise.")
@click.option("--dashboard-token", envvar="ROBE_DASHBOARD_TOKEN", metavar="T",
              help="The dashboard's token (or set ROBE_DASHBOARD_TOKEN); needed on any address but loopback.")
def run(fleet_path, wizards, no_execute, debounce, grace, progress, quiet, verbose, dashboard_at, dashboard_token):
    """Run the fleet in the foreground: dispatch, execute and fold results the moment they happen.

    Dispatch and monitor run inside this process (under the same per-wizard locks cron's
    lines take, so cron and robe run never dispatch one wizard at once); agents are child
    processes. A saved WORK-QUEUE.md is dispatched at once, a result is folded into the file
    at once, and a running task a person sets to BLOCKED, FAILED or PENDING is cancelled. The
    report, checkpoint and self-monitor jobs run on the schedule as child processes.

    Each transition is one line on stderr; each queue or fleet.yaml error is printed once with
    its file:line and hint (robe status shows those still standing). Stop with Ctrl-C or
    SIGTERM. Logs: stderr and each wizard's logs/run.log; the child jobs' output: logs/cron.log.
    With --dashboard [HOST:]PORT it also serves the dashboard (see robe dashboard).
    """
    if progress is None:
        progress = sys.stderr.isatty()
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    fleet = load_fleet(fleet_path)
    engine = Engine(fleet, list(wizards) or None,
                    options=Options(debounce=debounce, grace=grace, execute=not no_execute,
                                    exec_shutdown_grace=grace, progress=progress))
    handler = engine.progress.handler(fmt) if progress else logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    logging.basicConfig(level=level, handlers=[handler])
    if verbose:
        for noisy in ("watchdog", "robe.execute"):
            logging.getLogger(noisy).setLevel(logging.INFO)
    install_signal_handlers(engine)
    # The dashboard beside the engine (robe run --dashboard): its own thread and event loop,
    # started before the engine so an unusable address stops robe run at once.
    web = None
    if dashboard_at:
        web = start_beside_run(fleet, dashboard_at, dashboard_token)
    try:
        engine.run()
    finally:
        if web is not None:
            web.stop()


@click.command(epilog=examples("robe demo", "robe demo --dir /tmp/robe-demo"))
@click.option("--dir", "folder", metavar="DIR", help="Build the fleet here (a new or empty folder; default: a temp folder).")
@click.option("--timeout", type=float, default=50.0, show_default=True, metavar="S",
              help="Give up when the queue is not drained within this many seconds.")
def demo(folder, timeout):
    """The whole loop on a throwaway fleet of the seed's three wizards (echo agents).

    Loads examples/WORK-QUEUE.md, dispatches, executes and folds every task until the queue
    is drained, then prints the progress report and the checkpoint log.
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    sys.exit(run_demo(folder, timeout=timeout, echo=click.echo))
