"""``robe dispatch`` (= ``openclaw-work``): claim the next tasks for the fleet's wizards."""

from __future__ import annotations

import sys

import click

from .common import echo_json, fleet_option, json_option


@click.command()
@fleet_option
@click.option("--wizard", "wizards", multiple=True, metavar="NAME", help="Only this wizard (repeatable; default: all).")
@click.option("--max", "max_claims", type=click.IntRange(min=0), metavar="N", help="Claim at most N tasks per wizard.")
@click.option("--dry-run", is_flag=True, help="Show what would be claimed; write nothing.")
@click.option("--no-gateway", is_flag=True, help="Do not check or start the wizards' gateways.")
@click.option("-q", "--quiet", is_flag=True,
              help="Leave out routine notes (busy, at capacity, nothing ready), e.g. for cron mail.")
@json_option
def dispatch(fleet_path, wizards, max_claims, dry_run, no_gateway, quiet, as_json):
    """Claim the next ready tasks of each wizard (the seed's openclaw-work).

    For each wizard: check its gateway (start it if down), then claim the next PENDING tasks
    routed to it whose dependencies are COMPLETE, by priority then position, up to its
    max_active live claims. A claim is work/<ID>.active in the wizard's house; the task is
    marked IN_PROGRESS. One line per claim on stdout, diagnostics on stderr, events in
    logs/events.jsonl. A wizard another run is dispatching is left alone ("busy", exit 0).
    """
    from ..errors import RobeError
    from ..fleet.config import load_fleet
    from ..queue import QueueError
    from ..dispatch.run import dispatch as run

    def err(line: str) -> None:
        click.echo(line, err=True)

    try:
        fleet = load_fleet(fleet_path)
        report = run(fleet, list(wizards) or None, max_claims=max_claims, dry_run=dry_run, gateway=not no_gateway,
                     out=(lambda line: None) if as_json else click.echo, err=err,
                     note=(lambda line: None) if quiet else err)
    except (RobeError, QueueError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{e.strerror or e}{': ' + e.filename if e.filename else ''}") from None
    if as_json:
        echo_json(report.to_dict())
    if report.exit_code:
        sys.exit(report.exit_code)
