"""``robe monitor`` (= task-monitor), ``robe report`` (= progress-report), ``robe metrics``,
``robe checkpoint`` and ``robe history``: thin skins over the library."""

from __future__ import annotations

import sys

import click

from ..api import Fleet
from ..checkpoint import checkpoint_fleet, lines
from ..checkpoint import history as task_history
from ..report import alert_missed_metrics, compute_metrics, deliver_report, metrics_table, write_report
from .common import echo_json, err, examples, fleet_option, json_option, plain_errors, quiet, wizards_option


@click.command(epilog=examples("robe monitor", "robe monitor -w ezra --json"))
@fleet_option
@wizards_option
@click.option("--orphan-grace", type=click.FloatRange(min=0), default=120.0, show_default=True, metavar="S",
              help="Seconds an IN_PROGRESS task with no claim and no result waits before it goes back to PENDING.")
@click.option("--bare-grace", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="S",
              help="Seconds a bare completed/<ID>.txt (no .json) must be old before it counts as COMPLETE.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="S",
              help="Seconds to wait for a wizard's running dispatch before leaving it for the next run.")
@json_option
@plain_errors
def monitor(fleet_path, wizards, orphan_grace, bare_grace, lock_timeout, as_json):
    """Fold results into WORK-QUEUE.md, reap dead claims, archive (the seed's task-monitor).

    \b
    For each wizard: a claim with a result becomes COMPLETE, FAILED, or PENDING again (when
    attempts remain, or the agent asked to run later); a claim whose lease ran out while its
    executor is dead goes back to PENDING (or FAILED after max_attempts); an IN_PROGRESS task
    with no claim and no result goes back to PENDING after --orphan-grace. All changes to one
    queue file are one locked write; claims and results then move to work/archive/ and
    completed/archive/, and each transition is a line in logs/events.jsonl. One line per
    transition on stdout; exit 1 only when something could not be done.
    """
    report = Fleet.load(fleet_path).monitor(wizards, orphan_grace=orphan_grace, bare_grace=bare_grace,
                                            lock_timeout=lock_timeout, out=quiet if as_json else click.echo, err=err)
    if as_json:
        echo_json(report.to_dict())
    if report.exit_code:
        sys.exit(report.exit_code)


@click.command(epilog=examples("robe report --print", "robe report -w ezra --webhook http://127.0.0.1:9000/report"))
@fleet_option
@wizards_option
@click.option("--deliver", metavar="ARGV", envvar="ROBE_REPORT_DELIVER",
              help="Also run this command with the markdown report on stdin (or set ROBE_REPORT_DELIVER).")
@click.option("--webhook", metavar="URL", envvar="ROBE_REPORT_WEBHOOK",
              help="Also POST the report as JSON to this URL (or set ROBE_REPORT_WEBHOOK).")
@click.option("--print", "show", is_flag=True, help="Print the markdown report as well.")
@json_option
@plain_errors
def report(fleet_path, wizards, deliver, webhook, show, as_json):
    """Write a progress report (the seed's progress-report).

    \b
    Counts by status per wizard, what finished, failed and started since the previous report
    (from the event logs), what runs and for how long, failures with their reasons,
    throughput, and the seed's success metrics against their targets. Written to
    <fleet root>/reports/ (with --wizard: that wizard's <house>/reports/) as
    progress-<UTC stamp>.md, latest.md and latest.json. Prints the paths written.
    """
    rep, paths = write_report(Fleet.load(fleet_path).config, list(wizards) or None)
    failed = deliver_report(rep, deliver=deliver, webhook=webhook, err=err)
    if as_json:
        echo_json(rep.data)
    else:
        if show:
            click.echo(rep.markdown)
        for p in paths:
            click.echo(p)
    if failed:
        sys.exit(1)


@click.command(epilog=examples("robe metrics", "robe metrics -w ezra --json"))
@fleet_option
@wizards_option
@json_option
@plain_errors
def metrics(fleet_path, wizards, as_json):
    """Print the seed's success metrics against their targets.

    Task completion rate > 80%, uptime of each wizard > 95% (from self-monitor samples in
    logs/uptime.jsonl), port conflicts 0, shared memory none, interventions by a person < 1 a
    day. Exit 1 when a metric misses its target; with alerts in fleet.yaml, a missed metric is
    also sent there (once, until it is met again).
    """
    config = Fleet.load(fleet_path).config
    rows = compute_metrics(config, list(wizards) or None)
    alert_missed_metrics(config, rows, list(wizards) or None)
    if as_json:
        echo_json(rows)
    else:
        click.echo(metrics_table(rows))
    if any(r["ok"] is False for r in rows):
        sys.exit(1)


@click.command(epilog=examples("robe checkpoint", "robe checkpoint --root --push"))
@fleet_option
@wizards_option
@click.option("--root", "at_root", is_flag=True, help="Checkpoint the fleet root as one repository instead of each house.")
@click.option("--push", is_flag=True, help="Push the commit to the repository's remote afterwards.")
@click.option("--remote", default="origin", show_default=True, metavar="NAME", help="The remote --push pushes to.")
@json_option
@plain_errors
def checkpoint(fleet_path, wizards, at_root, push, remote, as_json):
    """Commit what changed in each house with git (the seed's hourly checkpoint).

    The house (or with --root the fleet root) becomes a git repository on first use, with a
    .gitignore that keeps out .env, keys, databases, logs, caches and virtualenvs, and .git at
    0700. A commit is made only when something changed; its message names the tasks whose
    status changed and how many results came in. A file that looks like it holds a secret (a
    private key, an sk-... key, API_KEY=value) is never committed: it is named in a warning.
    """
    results = checkpoint_fleet(Fleet.load(fleet_path).config, list(wizards) or None, root=at_root, push=push,
                               remote=remote, err=err)
    if as_json:
        echo_json([r.to_dict() for r in results])
    else:
        for r in results:
            click.echo(r.line())
    if any(r.failed for r in results):
        sys.exit(1)


@click.command(epilog=examples("robe history TASK-001", "robe history --limit 50"))
@click.argument("task_id", required=False, metavar="[ID]")
@fleet_option
@wizards_option
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True, metavar="N",
              help="Without an ID: how many of the latest transitions to show.")
@json_option
@plain_errors
def history(task_id, fleet_path, wizards, limit, as_json):
    """Status transitions of a task (or the latest of all tasks), from git history and the event log.

    Each line: when, the task, from -> to, and where it was seen: a checkpoint commit of the
    queue (its short hash) or an event (who made it).
    """
    rows = task_history(Fleet.load(fleet_path).config, task_id, list(wizards) or None, limit=None if task_id else limit)
    if as_json:
        echo_json(rows)
    else:
        text = lines(rows)
        click.echo(text if text else (f"no transitions of {task_id} recorded" if task_id else "no transitions recorded"))
