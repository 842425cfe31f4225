"""``robe spend``: tokens, cost and agent time per wizard, and its daily budget."""

from __future__ import annotations

import click

from ..api import Fleet
from ..fleet.spend import Totals, brief, budget_text, cost_text, parse_since, seconds_text, tokens_text
from .common import echo_json, examples, fleet_option, json_option, plain_errors, table, wizards_option


def _row(name: str, t: Totals) -> list[str]:
    return [name, str(t.attempts), tokens_text(t.input_tokens, t.reported), tokens_text(t.output_tokens, t.reported),
            tokens_text(t.total_tokens, t.reported), cost_text(t), seconds_text(t.seconds)]


@click.command(epilog=examples("robe spend", "robe spend -w ezra --since 7d --tasks"))
@fleet_option
@wizards_option
@click.option("--since", default="24h", show_default=True, metavar="WHEN",
              help="Count attempts that finished since then: 24h, 30m, 7d, today (UTC), or a date/time.")
@click.option("--tasks", "show_tasks", is_flag=True, help="Also list each attempt: task, tokens, cost, seconds.")
@json_option
@plain_errors
def spend(fleet_path, wizards, since, show_tasks, as_json):
    """Tokens in and out, cost and agent time per wizard, and today's spend against its budget.

    \b
    Counted from every attempt's result (completed/<ID>.json and its archive): tokens and
    cost as the agent reported them ("-": it reported none), agent seconds always. A wizard
    whose daily budget (or the fleet's) is used up is shown as paused, with when it resumes.
    """
    fleet = Fleet.load(fleet_path)
    try:
        start = parse_since(since)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    data = fleet.spend(list(wizards) or None, since=start, attempts=show_tasks)
    if as_json:
        echo_json(data)
        return
    click.echo(f"Spend since {start.strftime('%Y-%m-%d %H:%M')} UTC ({since}):")
    rows = [_row(r["wizard"], Totals.from_dict(r)) for r in data["wizards"]]
    if len(rows) > 1:
        rows.append(_row("all", Totals.from_dict(data["total"])))
    click.echo(table(rows, ["WIZARD", "ATTEMPTS", "TOKENS IN", "TOKENS OUT", "TOKENS", "COST", "AGENT TIME"]))
    click.echo("")
    click.echo("Today (UTC), against the daily budgets:")
    today = [[r["wizard"], brief(Totals.from_dict(r["today"])), budget_text(fleet.wizard(r["wizard"]).budget),
              "PAUSED" if r["paused"] else "ok"] for r in data["wizards"]]
    if data["fleet_today"] is not None:
        fleet_paused = any(r["paused"] and r["paused"]["scope"] == "fleet" for r in data["wizards"])
        today.append(["fleet", brief(Totals.from_dict(data["fleet_today"])), budget_text(fleet.config.budget),
                      "PAUSED" if fleet_paused else "ok"])
    click.echo(table(today, ["WIZARD", "TODAY", "BUDGET", "STATE"]))
    for r in data["wizards"]:
        if r["paused"]:
            click.echo(f"  {r['wizard']}: {r['paused']['reason']}")
    if show_tasks:
        click.echo("")
        attempts = sorted((a for r in data["wizards"] for a in r["attempts_list"]), key=lambda a: a["finished_at"])
        lines = [[a["finished_at"][:19].replace("T", " "), a["wizard"], a["task"], str(a["attempt"] or "-"), a["status"],
                  "-" if a["total_tokens"] is None else f"{a['total_tokens']:,}",
                  "-" if a["cost_usd"] is None else f"${a['cost_usd']:.4f}", seconds_text(a["seconds"])]
                 for a in attempts]
        click.echo(table(lines, ["FINISHED (UTC)", "WIZARD", "TASK", "ATTEMPT", "STATUS", "TOKENS", "COST", "SECONDS"])
                   if lines else "No attempt finished in that time.")
