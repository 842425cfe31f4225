"""``robe execute``: the body. Watch the wizards' work/ folders and run each claim's agent."""

from __future__ import annotations

import logging
import sys

import click

from ..api import Fleet
from ..execute import Executor, Options, install_signal_handlers
from .common import echo_json, fleet_option, json_option, wizards_option


@click.command()
@fleet_option
@wizards_option
@click.option("--once", is_flag=True, help="Run every claim waiting now, then exit (for cron and tests).")
@click.option("--scan-interval", type=float, default=2.0, show_default=True, metavar="S",
              help="Seconds between rescans of work/ (inotify can drop events).")
@click.option("--heartbeat-interval", type=float, default=5.0, show_default=True, metavar="S",
              help="Seconds between heartbeats of running claims and of logs/executor.json.")
@click.option("--grace", type=float, default=5.0, show_default=True, metavar="S",
              help="Seconds between SIGTERM and SIGKILL when an agent is stopped.")
@click.option("--shutdown-grace", type=float, default=10.0, show_default=True, metavar="S",
              help="Seconds a running agent may finish after SIGTERM/SIGINT reached the executor.")
@click.option("--output-cap", type=int, default=1024 * 1024, show_default=True, metavar="BYTES",
              help="Keep at most this much of an agent's answer (the rest is cut, and marked).")
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings and errors.")
@json_option
def execute(fleet_path, wizards, once, scan_interval, heartbeat_interval, grace, shutdown_grace, output_cap,
            quiet, as_json):
    """Run the wizards' agents on their claims (work/<ID>.active -> completed/<ID>.txt).

    Without --once it runs until SIGTERM or Ctrl-C, waking on each new claim; then it takes no
    new claim, lets a running agent finish for --shutdown-grace seconds, and stops it (its
    claim stays for the monitor).
    """
    fleet = Fleet.load(fleet_path)
    chosen = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    logging.basicConfig(level=logging.WARNING if quiet or as_json else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    opts = Options(scan_interval=scan_interval, heartbeat_interval=heartbeat_interval, grace=grace,
                   shutdown_grace=shutdown_grace, output_cap=output_cap)
    executor = Executor(chosen, opts, default_priority=fleet.config.default_priority)
    install_signal_handlers(executor)
    outcomes = executor.run(once=once)  # (a result it could not write is logged as one sentence)
    if not once:
        sys.exit(1 if executor.failures else 0)
    if as_json:
        echo_json(outcomes)
        return
    if not outcomes:
        click.echo("no claims to run")
    for o in outcomes:
        line = f"{o['wizard']}  {o['id']}  {o['status']}  {o['duration_s']:.1f} s"
        click.echo(line + (f"  {o['error']}" if o.get("error") else ""))
    sys.exit(1 if executor.failures else 0)
