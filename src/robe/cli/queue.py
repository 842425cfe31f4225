"""``robe queue``: read and edit WORK-QUEUE.md."""

from __future__ import annotations

import os
import sys

import click

from ..api import Fleet
from ..dispatch import fleet_tasks, ready_across, ready_for
from ..fleet.answers import find_task, found_in, spend_text, task_record
from ..fleet.config import FleetError, load_fleet
from ..fleet.spend import pauses, task_attempts, totals
from ..plumbing import shown_path
from ..queue import is_valid_id
from ..queue.api import Queue
from ..routing import routed_tasks
from .common import (
    echo_json,
    err,
    examples,
    file_option,
    fleet_option,
    json_option,
    table,
    terminal_width,
    wizard_option,
)

STATUS_CHOICE = click.Choice(["PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "BLOCKED"], case_sensitive=False)
PRIORITY_CHOICE = click.Choice(["P0", "P1", "P2", "P3"], case_sensitive=False)


@click.group(epilog=examples("robe queue list", 'robe queue add "Rotate the gateway logs" -w ezra'))
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


def _given(ctx, name: str) -> bool:
    """Whether the person gave this option (on the command line or through its variable)."""
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


def _fleet_mode(ctx, path: str, wizard_name: str | None, fleet_path: str | None):
    """The fleet to list from, or None for one queue file: with --wizard and no -f, or with
    neither -f nor a WORK-QUEUE.md here, but a fleet.yaml here or above (or --fleet)."""
    if _given(ctx, "path"):
        return load_fleet(fleet_path) if wizard_name else None
    if wizard_name or fleet_path:
        return load_fleet(fleet_path)
    if os.path.exists(path):
        return None
    try:
        return load_fleet(None)
    except FleetError:
        return None  # no fleet either: the file's own error says what to do


def _print_rows(rows, headers) -> None:
    text = table(rows, headers)
    width = terminal_width()
    if width:
        text = "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))
    click.echo(text)


def _keep(tasks, statuses, priorities, assignee, task_of=lambda t: t):
    want_s = {s.upper() for s in statuses}
    want_p = {p.upper() for p in priorities}
    return [x for x in tasks
            if (not want_s or task_of(x).status.value in want_s) and (not want_p or task_of(x).priority in want_p)
            and (assignee is None or task_of(x).assignee == assignee.lower())]


@queue.command("list", epilog=examples("robe queue list --status PENDING", "robe queue list -w ezra --ready"))
@file_option
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Only tasks with this status (repeatable).")
@click.option("--priority", "priorities", multiple=True, type=PRIORITY_CHOICE, help="Only tasks with this priority (repeatable).")
@click.option("--assignee", help="Only tasks whose Assignee field names this wizard.")
@wizard_option("Only tasks that route to wizard W (Assignee, routes, the queue's own wizard, default_wizard), "
               "from every queue of the fleet unless -f is given.")
@click.option("--ready", is_flag=True, help="With --wizard: what W would take next, in the order it would take it.")
@fleet_option
@json_option
@click.pass_context
def list_(ctx, path, statuses, priorities, assignee, wizard_name, ready, fleet_path, as_json):
    """List the tasks of a queue, in file order.

    Tasks with errors are left out (a note on stderr says how many); an empty file is an
    empty queue. In a fleet's folder with no WORK-QUEUE.md of its own, every queue of the
    fleet is listed, with the wizard each task routes to. With --wizard, routing is the
    dispatcher's; --ready shows what 'robe dispatch --wizard W' would claim, in its order.
    """
    if ready and not wizard_name:
        raise click.UsageError("--ready needs --wizard: it shows what one wizard would take next")
    fleet = _fleet_mode(ctx, path, wizard_name, fleet_path)
    if fleet is not None and not _given(ctx, "path"):
        _list_fleet(fleet, wizard_name, ready, statuses, priorities, assignee, as_json)
        return
    q = Queue(path, default_priority=fleet.default_priority if fleet else "P2").read()
    tasks = list(q.tasks)
    if fleet is not None:
        tasks = ready_for(fleet, q, wizard_name) if ready else routed_tasks(fleet, q, wizard_name)
    tasks = _keep(tasks, statuses, priorities, assignee)
    if as_json:
        echo_json([t.to_dict() for t in tasks])
    elif tasks:
        _print_rows([[t.id, t.priority, t.status.value, t.assignee or "-", t.title] for t in tasks],
                    ["ID", "PRI", "STATUS", "ASSIGNEE", "TITLE"])
    elif not q.tasks:
        click.echo(f"{path}: no tasks", err=True)
    elif ready:
        click.echo(f"{wizard_name}: nothing ready in {path}", err=True)
    _left_out_note(q)


def _list_fleet(fleet, wizard_name, ready, statuses, priorities, assignee, as_json) -> None:
    """Every queue of the fleet (or what routes to one wizard), with the wizard of each task."""
    found = ready_across(fleet, wizard_name) if ready else fleet_tasks(fleet, wizard_name, err=err)
    pause = pauses(fleet, [wizard_name]).get(wizard_name) if ready else None
    if pause is not None:  # like a full max_active: the order stands, but nothing is claimed today
        click.echo(f"{wizard_name}: {pause.reason}; robe dispatch claims none of these until then", err=True)
    found = _keep(found, statuses, priorities, assignee, task_of=lambda r: r.task)
    if as_json:
        echo_json([r.to_dict() for r in found])
    elif found:
        _print_rows([[r.wizard or "-", r.task.id, r.task.priority, r.task.status.value, r.task.assignee or "-",
                      f"{shown_path(r.queue)}:{r.task.line}", r.task.title] for r in found],
                    ["WIZARD", "ID", "PRI", "STATUS", "ASSIGNEE", "WHERE", "TITLE"])
    elif ready:
        click.echo(f"{wizard_name}: nothing ready in the queues of {fleet.path}", err=True)
    else:
        who = f" route to {wizard_name}" if wizard_name else ""
        click.echo(f"no tasks{who} in the queues of {fleet.path}", err=True)


def _spend_line(attempts: list) -> str:
    t = totals(attempts)
    n = f"{t.attempts} attempt{'s' if t.attempts != 1 else ''}"
    tokens = (f"{t.input_tokens:,} tokens in, {t.output_tokens:,} out" if t.reported
              else "no tokens reported")
    cost = f"${t.cost_usd:.4f}" if t.priced else "cost not reported"
    return f"{n}: {tokens}, {cost}, {t.seconds:.1f} s of agent time"


#: lines of the answer 'robe queue show' prints (robe answer prints all of it)
ANSWER_LINES = 10


def _found(ctx, task_id, path, wizard_name, fleet_path):
    """(the task as found, the fleet or None): from -f (or ./WORK-QUEUE.md) when given or there
    and no --wizard; else from the fleet's queues (--wizard: that wizard's)."""
    if not is_valid_id(task_id):
        raise click.UsageError(f"'{task_id}' is not a task ID; IDs look like TASK-001")
    if _given(ctx, "path") or (not wizard_name and not fleet_path and os.path.exists(path)):
        q = Queue(path).read()
        try:  # the fleet around the file, for the attempts and answers in its houses
            fleet = load_fleet(fleet_path, cwd=os.path.dirname(os.path.abspath(path)))
        except FleetError:
            if fleet_path:  # the fleet the person named must load
                raise
            fleet = None
        found = found_in(fleet, q, task_id)
        if found is None:
            raise click.ClickException(f"{task_id} is not in {path}; 'robe queue list -f {path}' shows what is")
        return found, fleet
    fleet = load_fleet(fleet_path)
    return find_task(fleet, task_id, wizard=wizard_name), fleet


@queue.command(epilog=examples("robe queue show TASK-001", "robe queue show TASK-001 -w ezra --json"))
@click.argument("task_id")
@file_option
@wizard_option("Look in wizard W's queue.")
@fleet_option
@json_option
@click.pass_context
def show(ctx, task_id, path, wizard_name, fleet_path, as_json):
    """Show one task whole: its fields, where it is, its body (the prompt), and how its latest
    attempt ended (outcome, reason, duration, tokens and cost where the agent reported them)
    with the first lines of its answer.
    """
    found, fleet = _found(ctx, task_id, path, wizard_name, fleet_path)
    record = task_record(fleet, found) if fleet is not None else None
    spent = task_attempts(fleet, task_id, found.queue) if fleet is not None else None
    task = found.task
    if as_json:
        data = task.to_dict()
        data["problems"] = [p.to_dict() for p in found.problems]
        data.update(queue=found.queue, wizard=found.wizard)
        if record is not None:
            data.update(record.to_dict())
        data["spend"] = None if spent is None else {"total": totals(spent).to_dict(),
                                                    "attempts": [a.to_dict() for a in spent]}
        echo_json(data)
        return
    rows = [("priority", task.priority + ("" if task.priority_written else " (from the heading or default)")),
            ("status", task.status.value), ("assignee", task.assignee or "-"),
            ("depends", ", ".join(task.depends) or "-"), ("tags", ", ".join(task.tags) or "-")]
    rows += list(task.fields)
    rows += [("section", task.section or "-"), ("where", f"{shown_path(found.queue)}:{task.line} ({task.style})")]
    if fleet is not None:
        rows.append(("wizard", found.wizard or "- (no wizard takes it)"))
    if spent:
        rows.append(("spend", _spend_line(spent)))
    width = max(len(k) for k, _ in rows)
    click.echo(f"{task.id}  {task.title}")
    for k, v in rows:
        click.echo(f"  {k.ljust(width)}  {v}")
    if task.body:
        click.echo("")
        click.echo(task.body)
    if record is not None:
        _echo_record(record, f" -f {path}" if _given(ctx, "path") else f" -w {wizard_name}" if wizard_name else "")
    for p in found.problems:
        click.echo(str(p), err=True)


def _echo_record(record, pick: str) -> None:
    """The latest attempt's outcome and the first lines of its answer."""
    if record.running:
        who, claim = record.running
        click.echo(f"\nRunning: attempt {claim.get('attempt') or '?'} by {who}, "
                   f"claimed {claim.get('claimed_at') or '?'}")
    last = record.latest
    if last is None:
        if not record.running:
            click.echo("\nNo attempt yet.")
        return
    took = f" in {last.duration_s:.1f} s" if last.duration_s is not None else ""
    spent = spend_text(last.outcome)
    click.echo(f"\nLatest attempt: {last.attempt or '-'} of {len(record.attempts)}, by {last.wizard}"
               f" ({last.outcome.get('agent') or 'an external agent'}): {last.status}{took}"
               + (f", {spent}" if spent else ""))
    if last.error:
        click.echo(f"  reason: {last.error}")
    if last.outcome.get("finished_at"):
        click.echo(f"  finished {last.outcome['finished_at']}")
    text = last.answer(record.found.task.id) or ""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    if lines:
        more = f"the first {ANSWER_LINES} of {len(lines)} lines; " if len(lines) > ANSWER_LINES else ""
        click.echo(f"Answer ({more}all of it: robe answer {record.found.task.id}{pick}):")
        for line in lines[:ANSWER_LINES]:
            click.echo(f"  {line}")


@queue.command(epilog=examples("robe queue validate", "robe queue validate -f ezra/WORK-QUEUE.md --json"))
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


@queue.command(epilog=examples(
    'robe queue add "Rotate the gateway logs" -p P1 -w ezra',
    'robe queue add "Summarise the week" -f WORK-QUEUE.md -t ops --body "Read the logs first."',
))
@click.argument("title")
@file_option
@wizard_option("Add it to wizard W's queue (fleet.yaml says which file); in a queue W shares with other "
               "wizards, it is assigned to W.")
@fleet_option
@click.option("-p", "--priority", type=PRIORITY_CHOICE, default="P2", show_default=True)
@click.option("-a", "--assignee", help="The wizard that should take it.")
@click.option("-d", "--depends", multiple=True, help="IDs this task waits for (repeatable or comma-separated).")
@click.option("-t", "--tags", multiple=True, help="Tags (repeatable or comma-separated).")
@click.option("--body", help="The task's body: the prompt the agent gets.")
@click.option("--body-file", type=click.File("r", encoding="utf-8"), help="Read the body from a file ('-' for stdin).")
@click.option("--style", type=click.Choice(["section", "list", "table"]),
              help="Write it in this style (default: the style of the file's last task).")
@json_option
@click.pass_context
def add(ctx, title, path, wizard_name, fleet_path, priority, assignee, depends, tags, body, body_file, style, as_json):
    """Append a task with the next free ID, in the style the file already uses.
    """
    if body and body_file:
        raise click.UsageError("give --body or --body-file, not both")
    if wizard_name and _given(ctx, "path"):
        raise click.UsageError("give --wizard (its queue) or -f (a file), not both")
    if body_file:
        body = body_file.read()
    queue_ = Queue(path)
    if wizard_name:
        target = Fleet.load(fleet_path).wizard_queue(wizard_name)
        queue_, assignee = target.queue, assignee or target.assignee
    task = queue_.add(title, priority=priority, assignee=assignee, depends=_split_list(depends),
                      tags=_split_list(tags), body=body or "", style=style)
    if as_json:
        echo_json(task.to_dict())
    else:
        where = shown_path(queue_.path) if wizard_name else path
        click.echo(f"added {task.id} ({task.priority}, {task.status.value}) at {where}:{task.line}")


@queue.command("set", epilog=examples(
    'robe queue set TASK-003 BLOCKED --reason "waiting for keys"',
    "robe queue set TASK-003 PENDING --expect FAILED",
))
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


@click.command(epilog=examples("robe answer TASK-001", "robe answer TASK-001 -w ezra --attempt 1 --json"))
@click.argument("task_id")
@file_option
@wizard_option("The task of wizard W's queue.")
@fleet_option
@click.option("--attempt", type=click.IntRange(min=1), metavar="N",
              help="The answer of attempt N (default: the latest).")
@json_option
@click.pass_context
def answer(ctx, task_id, path, wizard_name, fleet_path, attempt, as_json):
    """Print a task's whole answer (its latest attempt's, or attempt N's).

    The task is looked up as 'robe queue show' does: -f FILE, else ./WORK-QUEUE.md, else the
    fleet's queues (--wizard W: W's). Exit 1 when it has no answer yet.
    """
    found, fleet = _found(ctx, task_id, path, wizard_name, fleet_path)
    if fleet is None:
        raise click.ClickException(f"no fleet.yaml around {path}, so robe cannot tell whose house holds the answers; "
                                   "pass --fleet PATH")
    record = task_record(fleet, found)
    chosen = [a for a in record.attempts if attempt is None or a.attempt == attempt]
    if not chosen:
        had = ", ".join(str(a.attempt) for a in record.attempts if a.attempt) or "none"
        what = f"no attempt {attempt} (attempts with an answer: {had})" if attempt else \
            f"no answer yet (it is {found.task.status.value})"
        raise click.ClickException(f"{task_id} has {what}; 'robe queue show {task_id}' shows where it stands")
    last = chosen[-1]
    text = last.answer(task_id) or ""
    if as_json:
        echo_json({"id": task_id, "queue": found.queue, **last.to_dict(), "answer": text})
    else:
        click.echo(text, nl=not text.endswith("\n"))
