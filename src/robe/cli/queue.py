"""``robe queue``: read and edit WORK-QUEUE.md."""

from __future__ import annotations

import os
import sys

import click

from ..dispatch import ready_for
from ..fleet.config import FleetError, load_fleet
from ..fleet.spend import task_attempts, totals
from ..queue import is_valid_id
from ..queue.api import Queue
from ..routing import routed_tasks
from .common import echo_json, file_option, json_option, table, terminal_width

STATUS_CHOICE = click.Choice(["PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "BLOCKED"], case_sensitive=False)
PRIORITY_CHOICE = click.Choice(["P0", "P1", "P2", "P3"], case_sensitive=False)


@click.group()
def queue():
    """Read and edit a WORK-QUEUE.md.

    \b
    A task is a heading, a list item or a table row that starts with an ID such as
    TASK-001. robe changes only the status words it owns and keeps every other byte.
    """


def _left_out_note(q) -> None:
    if q.errors:
        n = len({p.line for p in q.errors})
        click.echo(f"{q.path}: {n} place{'s' if n != 1 else ''} with errors left out; run 'robe queue validate -f {q.path}'",
                   err=True)


@queue.command("list")
@file_option
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Only tasks with this status (repeatable).")
@click.option("--priority", "priorities", multiple=True, type=PRIORITY_CHOICE, help="Only tasks with this priority (repeatable).")
@click.option("--assignee", help="Only tasks whose Assignee field names this wizard.")
@click.option("--wizard", "wizard_name", metavar="W",
              help="Only tasks that route to wizard W (Assignee, routes, default); reads W's queue unless -f is given.")
@click.option("--ready", is_flag=True, help="With --wizard: what W would take next, in the order it would take it.")
@click.option("--fleet", "fleet_path", metavar="PATH", help="The fleet.yaml for --wizard (or ROBE_FLEET, or the nearest one).")
@json_option
@click.pass_context
def list_(ctx, path, statuses, priorities, assignee, wizard_name, ready, fleet_path, as_json):
    """List the tasks of a queue, in file order.

    Tasks with errors are left out (a note on stderr says how many); an empty file is an
    empty queue. With --wizard, routing is the dispatcher's: the same tasks it would
    consider for that wizard; --ready shows the order it would claim them in.
    """
    if ready and not wizard_name:
        raise click.UsageError("--ready needs --wizard: it shows what one wizard would take next")
    fleet = None
    if wizard_name:
        fleet = load_fleet(fleet_path)
        if ctx.get_parameter_source("path") is click.core.ParameterSource.DEFAULT:
            path = fleet.wizard(wizard_name).queue
    q = Queue(path, default_priority=fleet.default_priority if fleet else "P2").read()
    tasks = list(q.tasks)
    if fleet is not None:
        tasks = ready_for(fleet, q, wizard_name) if ready else routed_tasks(fleet, q, wizard_name)
    want_s = {s.upper() for s in statuses}
    want_p = {p.upper() for p in priorities}
    tasks = [t for t in tasks
             if (not want_s or t.status.value in want_s) and (not want_p or t.priority in want_p)
             and (assignee is None or t.assignee == assignee.lower())]
    if as_json:
        echo_json([t.to_dict() for t in tasks])
    elif tasks:
        rows = [[t.id, t.priority, t.status.value, t.assignee or "-", t.title] for t in tasks]
        text = table(rows, ["ID", "PRI", "STATUS", "ASSIGNEE", "TITLE"])
        width = terminal_width()
        if width:
            text = "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))
        click.echo(text)
    elif not q.tasks:
        click.echo(f"{path}: no tasks", err=True)
    elif ready:
        click.echo(f"{wizard_name}: nothing ready in {path}", err=True)
    _left_out_note(q)


def _task_spend(task_id: str, path: str, fleet_path: str | None) -> list | None:
    """The task's attempts with their spend, from the fleet's houses; None when no fleet.yaml is
    found (--fleet, $ROBE_FLEET, or the nearest one above the queue file)."""
    try:
        fleet = load_fleet(fleet_path, cwd=os.path.dirname(os.path.abspath(path)))
    except FleetError:
        if fleet_path:
            raise
        return None
    return task_attempts(fleet, task_id, path)


def _spend_line(attempts: list) -> str:
    t = totals(attempts)
    n = f"{t.attempts} attempt{'s' if t.attempts != 1 else ''}"
    tokens = (f"{t.input_tokens:,} tokens in, {t.output_tokens:,} out" if t.reported
              else "no tokens reported")
    cost = f"${t.cost_usd:.4f}" if t.priced else "cost not reported"
    return f"{n}: {tokens}, {cost}, {t.seconds:.1f} s of agent time"


@queue.command()
@click.argument("task_id")
@file_option
@click.option("--fleet", "fleet_path", metavar="PATH",
              help="The fleet.yaml whose houses hold the task's results, for its spend (default: $ROBE_FLEET, "
                   "else the nearest fleet.yaml above the queue file).")
@json_option
def show(task_id, path, fleet_path, as_json):
    """Show one task whole: its fields, where it is, its body (the prompt) and, in a fleet, what
    its attempts spent."""
    if not is_valid_id(task_id):
        raise click.UsageError(f"'{task_id}' is not a task ID; IDs look like TASK-001")
    q = Queue(path).read()
    task = q.get(task_id)
    problems = [p for p in q.problems if p.task_id == task_id]
    if task is None:
        task = next((t for t in q.rejected if t.id == task_id), None)
    if task is None:
        raise click.ClickException(f"{task_id} is not in {path}; 'robe queue list -f {path}' shows what is")
    attempts = _task_spend(task_id, path, fleet_path)
    if as_json:
        data = task.to_dict()
        data["problems"] = [p.to_dict() for p in problems]
        data["spend"] = None if attempts is None else {"total": totals(attempts).to_dict(),
                                                       "attempts": [a.to_dict() for a in attempts]}
        echo_json(data)
        return
    rows = [("priority", task.priority + ("" if task.priority_written else " (from the heading or default)")),
            ("status", task.status.value), ("assignee", task.assignee or "-"),
            ("depends", ", ".join(task.depends) or "-"), ("tags", ", ".join(task.tags) or "-")]
    rows += list(task.fields)
    rows += [("section", task.section or "-"), ("where", f"{path}:{task.line} ({task.style})")]
    if attempts:
        rows.append(("spend", _spend_line(attempts)))
    width = max(len(k) for k, _ in rows)
    click.echo(f"{task.id}  {task.title}")
    for k, v in rows:
        click.echo(f"  {k.ljust(width)}  {v}")
    if task.body:
        click.echo("")
        click.echo(task.body)
    for p in problems:
        click.echo(str(p), err=True)


@queue.command()
@file_option
@click.option("--markdown-check/--no-markdown-check", default=True, show_default=True,
              help="Also compare robe's reading of the structure with the mistune markdown parser.")
@json_option
def validate(path, markdown_check, as_json):
    """Check a queue: bad or duplicate IDs, unknown statuses and priorities, missing or
    circular dependencies.

    Every problem is reported with file:line and a hint. Exits 1 when there are errors
    (warnings alone exit 0).
    """
    q = Queue(path).read()
    problems = Queue(path).problems(markdown_check=markdown_check, snapshot=q)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    if as_json:
        echo_json({"path": path, "tasks": len(q.tasks), "left_out": len(q.rejected),
                   "errors": [p.to_dict() for p in errors], "warnings": [p.to_dict() for p in warnings]})
    else:
        for p in problems:
            click.echo(str(p))
        summary = f"{path}: {len(q.tasks)} task{'s' if len(q.tasks) != 1 else ''} ok"
        if errors or warnings:
            summary += f", {len(errors)} error{'s' if len(errors) != 1 else ''}, {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
        if q.rejected:
            summary += f"; {len(q.rejected)} task{'s' if len(q.rejected) != 1 else ''} left out until fixed"
        click.echo(summary)
    sys.exit(1 if errors else 0)


def _split_list(values) -> tuple[str, ...]:
    out = []
    for v in values:
        out += [x.strip() for x in v.replace(",", " ").split() if x.strip()]
    return tuple(dict.fromkeys(out))


@queue.command()
@click.argument("title")
@file_option
@click.option("-p", "--priority", type=PRIORITY_CHOICE, default="P2", show_default=True)
@click.option("-a", "--assignee", help="The wizard that should take it.")
@click.option("-d", "--depends", multiple=True, help="IDs this task waits for (repeatable or comma-separated).")
@click.option("-t", "--tags", multiple=True, help="Tags (repeatable or comma-separated).")
@click.option("--body", help="The task's body: the prompt the agent gets.")
@click.option("--body-file", type=click.File("r", encoding="utf-8"), help="Read the body from a file ('-' for stdin).")
@click.option("--style", type=click.Choice(["section", "list", "table"]),
              help="Write it in this style (default: the style of the file's last task).")
@json_option
def add(title, path, priority, assignee, depends, tags, body, body_file, style, as_json):
    """Append a task with the next free ID, in the style the file already uses."""
    if body and body_file:
        raise click.UsageError("give --body or --body-file, not both")
    if body_file:
        body = body_file.read()
    task = Queue(path).add(title, priority=priority, assignee=assignee, depends=_split_list(depends),
                           tags=_split_list(tags), body=body or "", style=style)
    if as_json:
        echo_json(task.to_dict())
    else:
        click.echo(f"added {task.id} ({task.priority}, {task.status.value}) at {path}:{task.line}")


@queue.command("set")
@click.argument("task_id")
@click.argument("status", type=STATUS_CHOICE)
@file_option
@click.option("--reason", default="", help="Why: recorded in logs/events.jsonl beside the queue.")
@click.option("--expect", type=STATUS_CHOICE, multiple=True,
              help="Refuse unless the task has this status now (repeatable).")
@json_option
def set_(task_id, status, path, reason, expect, as_json):
    """Set a task's status by hand (a person's intervention, logged as such).

    Only the status word changes (and a list task's checkbox). Setting a COMPLETE or
    FAILED task back to PENDING asks robe to run it again.
    """
    if not is_valid_id(task_id):
        raise click.UsageError(f"'{task_id}' is not a task ID; IDs look like TASK-001")
    out = Queue(path).set_status(task_id, status, expect=expect, reason=reason)
    changed = out.reason != "unchanged"
    if as_json:
        echo_json({"id": task_id, "from": out.before.value, "to": out.after.value, "changed": changed})
    elif changed:
        click.echo(f"{task_id}: {out.before.value} -> {out.after.value}")
    else:
        click.echo(f"{task_id} is already {out.after.value}; nothing changed")
