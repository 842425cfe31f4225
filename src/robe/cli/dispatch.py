"""``robe dispatch`` (= ``openclaw-work``): claim the next tasks for the fleet's wizards."""

from __future__ import annotations

import sys

import click

from ..dispatch import dispatch as run_dispatch
from ..fleet.config import load_fleet
from .common import echo_json, err, fleet_option, json_option, plain_errors, quiet, wizards_option


@click.command()
@fleet_option
@wizards_option
@click.option("--max", "max_claims", type=click.IntRange(min=0), metavar="N", help="Claim at most N tasks per wizard.")
@click.option("--dry-run", is_flag=True, help="Show what would be claimed; write nothing.")
@click.option("--no-gateway", is_flag=True, help="Do not check or start the wizards' gateways.")
@click.option("-q", "--quiet", "be_quiet", is_flag=True,
              help="Leave out routine notes (busy, at capacity, nothing ready), e.g. for cron mail.")
@json_option
@plain_errors
def dispatch(fleet_path, wizards, max_claims, dry_run, no_gateway, be_quiet, as_json):
    """Claim the next ready tasks of each wizard (the seed's openclaw-work).

    For each wizard: check its gateway (start it if down), then claim the next PENDING tasks
    routed to it whose dependencies are COMPLETE, by priority then position, up to its
    max_active live claims. A claim is work/<ID>.active in the wizard's house; the task is
    marked IN_PROGRESS. One line per claim on stdout, diagnostics on stderr, events in
    logs/events.jsonl. A wizard another run is dispatching is left alone ("busy", exit 0).
    """
    report = run_dispatch(load_fleet(fleet_path), list(wizards) or None, max_claims=max_claims, dry_run=dry_run,
                          gateway=not no_gateway, out=quiet if as_json else click.echo, err=err,
                          note=quiet if be_quiet else err)
    if as_json:
        echo_json(report.to_dict())
    sys.exit(report.exit_code)


@click.command()
@click.argument("task_id")
@fleet_option
@click.option("-w", "--wizard", metavar="NAME", help="The wizard whose queue holds the task (when several do).")
@click.option("--reason", default="", help="Why: recorded in the events log and the cancelled attempt.")
@json_option
def cancel(task_id, fleet_path, wizard, reason, as_json):
    """Cancel a task: BLOCKED in its queue, and its running agent stopped.

    Only a PENDING or IN_PROGRESS task can be cancelled. When a wizard is running it, its
    executor stops the agent's process group (SIGTERM, then SIGKILL): within about a second
    under robe run, at the executor's next rescan otherwise. The attempt is archived as
    cancelled and the task stays BLOCKED; set it to PENDING to run it again. Setting a running
    task to BLOCKED, FAILED or PENDING in the file by hand cancels it the same way.

    \b
    Examples:
      robe cancel TASK-7
      robe cancel TASK-7 --reason "wrong repository"
      robe cancel TASK-7 -w ezra --json
    """
    from ..cancel import cancel as cancel_task

    done = cancel_task(load_fleet(fleet_path), task_id, reason=reason, wizard=wizard)
    if as_json:
        echo_json(done.to_dict())
    else:
        click.echo(done.text())
