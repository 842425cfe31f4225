"""``robe ask`` and ``robe inbox``: questions between wizards (and people), and their answers."""

from __future__ import annotations

import os
import sys

import click

from ..ask import AskTimeout, ask as ask_wizard, inbox as read_inbox, inbox_of, wait
from ..fleet.config import load_fleet
from .common import echo_json, examples, fleet_option, json_option, plain_errors

PRIORITY_CHOICE = click.Choice(["P0", "P1", "P2", "P3"], case_sensitive=False)


@click.command(epilog=examples(
    'robe ask allegro "Which port does the gateway use?" --wait 60',
    'robe ask allegro "Summarise the failures" --from ezra',
))
@click.argument("wizard")
@click.argument("question")
@fleet_option
@click.option("--from", "asker", metavar="W", envvar="ROBE_WIZARD",
              help="Ask as wizard W, whose inbox gets the answer (default: $ROBE_WIZARD, which robe sets for an "
                   "agent; else you, and the answer goes to the fleet's inbox/).")
@click.option("--priority", "-p", type=PRIORITY_CHOICE, default="P1", show_default=True,
              help="The priority of the question's task.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Wait this long for the answer and print it (exit 1 if none came).")
@json_option
@plain_errors
def ask(wizard, question, fleet_path, asker, priority, wait_s, as_json):
    """Ask WIZARD a QUESTION ("-" reads it from stdin).

    \b
    The question becomes a task in WIZARD's queue, tagged ask, that records who asked. It is
    dispatched like any task; when it is done, the monitor puts the answer in the asker's
    inbox (robe inbox). Refused: asking yourself, a loop (A asks B asks A), a chain deeper
    than 3, and more than max_open_asks (fleet.yaml, default 5) unanswered questions.
    """
    if question == "-":
        question = sys.stdin.read()
    fleet = load_fleet(fleet_path)
    task = os.environ.get("ROBE_TASK_ID") if asker and asker == os.environ.get("ROBE_WIZARD") else None
    ticket = ask_wizard(fleet, wizard, question, asker=asker or None, task_id=task, priority=priority)
    if wait_s is None:
        if as_json:
            echo_json({"asked": ticket.to_dict()})
        else:
            click.echo(f"Asked {ticket.wizard}: {ticket.id} in {ticket.queue}; the answer will come to "
                       f"{ticket.inbox} (robe inbox{' ' + asker if asker else ''}).")
        return
    click.echo(f"Asked {ticket.wizard}: {ticket.id}; waiting up to {wait_s:g} s for the answer.", err=True)
    try:
        msg = wait(fleet, ticket, wait_s)
    except AskTimeout as e:
        if as_json:
            echo_json({"asked": ticket.to_dict(), "answer": None, "error": str(e)})
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({"asked": ticket.to_dict(), "answer": msg})
    else:
        click.echo(msg.get("answer") or "", nl=not str(msg.get("answer") or "").endswith("\n"))
    if msg.get("status") != "COMPLETE":
        raise click.ClickException(f"{ticket.wizard} could not answer {ticket.id}: {msg.get('error') or 'it FAILED'}")


@click.command(epilog=examples("robe inbox", "robe inbox ezra --all"))
@click.argument("wizard", required=False)
@fleet_option
@click.option("--all", "include_read", is_flag=True, help="Also the messages read before.")
@click.option("--peek", is_flag=True, help="Leave unread messages unread.")
@json_option
@plain_errors
def inbox(wizard, fleet_path, include_read, peek, as_json):
    """Read WIZARD's inbox (default: yours, the fleet's inbox/): the answers to its questions.

    Each message is shown whole and then marked read (moved to inbox/read/; nothing is
    deleted). --all shows the read ones too.
    """
    fleet = load_fleet(fleet_path)
    found = read_inbox(fleet, wizard, include_read=include_read, mark_read=not peek)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(f"No {'' if include_read else 'new '}messages in {inbox_of(fleet, wizard).folder}.")
        return
    for msg in found:
        seen = " (read before)" if msg.get("read") else ""
        click.echo(f"--- {msg.get('from')} answered {msg.get('task')} ({msg.get('status')}) at "
                   f"{msg.get('sent_at')}{seen}")
        click.echo(f"    {msg.get('title')}")
        if msg.get("error"):
            click.echo(f"    error: {msg['error']}")
        answer = str(msg.get("answer") or "")
        click.echo(answer, nl=not answer.endswith("\n"))
