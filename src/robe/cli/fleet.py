"""``robe init``, ``robe wizard``, ``robe gateway``, ``robe status``, ``robe doctor``: the fleet's commands.

Each command parses its options, calls one function of :mod:`robe.fleet`, prints, and exits
(0 ok, 1 failure, 2 usage). Errors are FleetError sentences, printed by the root group.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from ..cron.schedule import robe_command
from ..doctor import FAIL, OK, summary
from ..doctor import doctor as run_doctor
from ..fleet.config import FleetError, load_fleet
from ..fleet.gateway import gateway_status, start_gateway, stop_gateway
from ..fleet.spend import budget_text, pauses
from ..fleet.status import fleet_status, wizard_status
from ..fleet.wizards import create_wizard, init_fleet, parse_settings, remove_wizard
from .common import echo_json, fleet_option, json_option, table, wizards_option

AGENT_CHOICE = click.Choice(["hermes", "openai", "command", "echo"])


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{v} {k.lower()}" for k, v in counts.items() if v) or "empty"


def _age(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


# ---------------------------------------------------------------------------------------------
# robe init


@click.command()
@click.argument("folder", required=False, metavar="[DIR]")
@fleet_option
@click.option("--wizard", "wizard_name", default="allegro", show_default=True, metavar="NAME",
              help="Name of the first wizard (for a new fleet).")
@click.option("--agent", type=AGENT_CHOICE, default="hermes", show_default=True, help="The first wizard's agent.")
@click.option("--model", help="Model name for the agent (default: the seed's qwen2.5:1.5b on a local Ollama).")
@click.option("--base-url", help="OpenAI-compatible base URL of the model (default: http://127.0.0.1:11434/v1).")
@click.option("--role", help="The first wizard's role, for its SOUL.md.")
@click.option("--port", type=int, help="The first wizard's port (default: the lowest free one in 8643-8699).")
@click.option("--no-mcp", is_flag=True, help="Do not list robe's MCP server in a Hermes wizard's config.yaml.")
def init(folder, fleet_path, wizard_name, agent, model, base_url, role, port, no_mcp):
    """Create a fleet: a fleet.yaml, one wizard's house and an example queue.

    \b
    On an existing fleet, builds whatever house, home, SOUL.md, config.yaml or .env is
    missing and changes nothing else; run twice, the second run changes nothing.
    """
    if folder is None and fleet_path:
        folder = fleet_path if os.path.isdir(fleet_path) else os.path.dirname(os.path.abspath(fleet_path))
    result = init_fleet(folder, wizard=wizard_name, agent=agent, model=model, base_url=base_url, role=role, port=port,
                        mcp_command=None if no_mcp else robe_command())
    fleet = result.fleet
    if not result.changed:
        n = len(fleet.wizards)
        click.echo(f"Nothing to do: {fleet.path} and the houses of its {n} wizard{'s' if n != 1 else ''} "
                   "are already in place; nothing was changed.")
        return
    click.echo(f"Created in {fleet.folder}:")
    for p in result.created:
        click.echo(f"  {p}")
    for w in fleet.wizards:
        click.echo(f"Wizard {w.name}: port {w.port}, house {w.house}, queue {w.queue}")
    click.echo("Next: 'robe doctor' to check it, 'robe gateway start' to start the gateways.")


# ---------------------------------------------------------------------------------------------
# robe wizard


@click.group()
def wizard():
    """Create, list, show and remove wizards (houses, homes, ports, SOUL.md, Hermes config)."""


@wizard.command("create")
@click.argument("name")
@fleet_option
@click.option("--port", type=int, help="Port of its api_server (default: the lowest free one in the fleet's range).")
@click.option("--agent", type=AGENT_CHOICE, default=None, help="Agent kind (default: hermes, or the clone's).")
@click.option("--model", help="Model name (default: qwen2.5:1.5b on a local Ollama, or the clone's).")
@click.option("--base-url", help="OpenAI-compatible base URL of the model.")
@click.option("--role", help="Its role, written to fleet.yaml and SOUL.md.")
@click.option("--clone-from", metavar="WIZARD",
              help="Copy SOUL.md and the model settings of this wizard (never its port, key, memories or sessions).")
@click.option("--gateway-start", metavar="COMMAND",
              help="The gateway's start command, e.g. '/opt/hermes/bin/hermes gateway run' (default for hermes: "
                   "'hermes gateway run').")
@click.option("--context-length", type=click.IntRange(min=1), metavar="TOKENS",
              help="The model's context length (Hermes asks the endpoint when it is not set).")
@click.option("--hermes-config", "hermes_config", multiple=True, metavar="KEY=VALUE",
              help="Extra setting for the home's config.yaml, e.g. agent.environment_probe=false (repeatable).")
@click.option("--command", "command", metavar="COMMAND",
              help="For --agent command: its command line, e.g. 'my-agent --prompt-file {prompt_file}' "
                   "(run without a shell; {prompt_file}, {task_id}, {title} are filled in).")
@click.option("--no-mcp", is_flag=True,
              help="Do not list robe's MCP server (robe mcp --as NAME) in a Hermes wizard's config.yaml.")
def wizard_create(name, fleet_path, port, agent, model, base_url, role, clone_from, gateway_start, context_length,
                  hermes_config, command, no_mcp):
    """Create a wizard: its house, home, SOUL.md, config.yaml, .env key and port.

    The wizard is registered in fleet.yaml; the rest of that file (comments, order) stays as
    it is. Names are lower-case letters, digits and dashes. A Hermes wizard's config.yaml
    lists robe's MCP server, acting as this wizard, so its agent has the fleet's tools
    (queues, asking other wizards); --no-mcp leaves it out.
    """
    start = shlex.split(gateway_start) if gateway_start else None
    kind = agent or ("hermes" if not clone_from else None)
    created = create_wizard(fleet_path, name, port=port, agent=kind or "hermes", model=model, base_url=base_url,
                            role=role, clone_from=clone_from, gateway_start=start, context_length=context_length,
                            hermes_config=parse_settings(hermes_config),
                            command=shlex.split(command) if command else None,
                            mcp_command=None if no_mcp else robe_command())
    w = created.wizard
    click.echo(f"Created wizard {w.name} on port {w.port} ({w.agent.kind} agent).")
    click.echo(f"  house  {w.house}")
    click.echo(f"  home   {w.home}  (HERMES_HOME)")
    click.echo(f"  queue  {w.queue}")
    click.echo(f"  fleet  {created.fleet.path}")
    if w.gateway:
        click.echo(f"Start its gateway with: robe gateway start --wizard {w.name}")


@wizard.command("list")
@fleet_option
@json_option
def wizard_list(fleet_path, as_json):
    """List the wizards: name, port, agent, state, queue counts and role."""
    fleet = load_fleet(fleet_path)
    statuses = fleet_status(fleet)
    if as_json:
        echo_json([{"name": s.wizard.name, "role": s.wizard.role, "port": s.wizard.port,
                    "agent": s.wizard.agent.kind, "state": s.state, "counts": s.counts} for s in statuses])
        return
    if not statuses:
        click.echo(f"No wizards in {fleet.path}; add one with 'robe wizard create NAME'.")
        return
    rows = [[s.wizard.name, str(s.wizard.port), s.wizard.agent.kind, s.state,
             s.queue_error and "unreadable" or _counts_text(s.counts), s.wizard.role or "-"] for s in statuses]
    click.echo(table(rows, ["NAME", "PORT", "AGENT", "STATE", "QUEUE", "ROLE"]))


@wizard.command("show")
@click.argument("name")
@fleet_option
@json_option
def wizard_show(name, fleet_path, as_json):
    """Show one wizard's settings, paths and state."""
    fleet = load_fleet(fleet_path)
    w = fleet.wizard(name)
    s = wizard_status(w, pause=pauses(fleet, [name]).get(name))
    if as_json:
        d = w.to_dict()
        d.update(s.to_dict())
        echo_json(d)
        return
    lines = [
        ("name", w.name), ("role", w.role or "-"), ("state", s.state), ("port", str(w.port)),
        ("agent", " ".join(f"{k}={v}" for k, v in w.agent.to_dict().items() if k != "config")),
        ("gateway", " ".join(shlex.quote(a) for a in w.gateway.start) + f"  (health {w.gateway.health})"
         if w.gateway else "none"),
        ("house", w.house), ("home", w.home), ("queue", f"{w.queue}  ({s.queue_error or _counts_text(s.counts)})"),
        ("limits", f"max_active {w.max_active}, max_parallel {w.max_parallel}, dispatch_floor {w.dispatch_floor}, "
                   f"timeout {w.timeout}s, lease {w.lease}s, max_attempts {w.max_attempts}"),
        ("schedule", ", ".join(f"{k} {v!r}" for k, v in w.schedule.items()) or "-"),
        ("budget", budget_text(w.budget) + (f"  ({s.pause.reason})" if s.pause is not None else "")),
        ("gateway state", f"{s.gateway.state}: {s.gateway.detail}"),
        ("executor", s.executor.detail),
    ]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k.ljust(width)}  {v}")


@wizard.command("remove")
@click.argument("name")
@fleet_option
@click.option("--purge", is_flag=True, help="Also delete the house and home (memories, sessions, results).")
def wizard_remove(name, fleet_path, purge):
    """Unregister a wizard from fleet.yaml; its files stay unless --purge.

    Refused while a route or default_wizard names it or its gateway runs; warns about
    PENDING tasks still assigned to it.
    """
    r = remove_wizard(fleet_path, name, purge=purge)
    for warning in r.warnings:
        click.echo(f"warning: {warning}", err=True)
    if purge:
        click.echo(f"Removed wizard {name} and deleted {r.wizard.house}.")
    else:
        click.echo(f"Removed wizard {name} from {r.fleet.path}; its files stay in {r.wizard.house}.")


# ---------------------------------------------------------------------------------------------
# robe gateway


@click.group()
def gateway():
    """Start, stop and check the wizards' gateways (Hermes' api_server, or any configured command)."""


def _selected(fleet, names, *, need_gateway: bool):
    if names:
        chosen = [fleet.wizard(n) for n in names]
        if need_gateway:
            for w in chosen:
                if w.gateway is None:
                    raise FleetError(f"wizard {w.name} has no gateway; add 'gateway: {{start: [...]}}' to it "
                                     f"in {fleet.path}")
        return chosen
    return [w for w in fleet.wizards if w.gateway is not None] if need_gateway else list(fleet.wizards)


@gateway.command("start")
@fleet_option
@wizards_option
@click.option("--timeout", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the health check to pass.")
def gateway_start(fleet_path, wizards, timeout):
    """Start gateways detached (own session, HERMES_HOME set, output to logs/gateway.log).

    Waits until the health check passes (HTTP /health on the wizard's port by default).
    """
    fleet = load_fleet(fleet_path)
    failed = 0
    for w in _selected(fleet, wizards, need_gateway=True):
        try:
            st = start_gateway(w, timeout=timeout)
        except FleetError as e:
            click.echo(f"Error: {e}", err=True)
            failed += 1
            continue
        pid = f"pid {st.pid}" if st.pid else "not started by robe"
        click.echo(f"{w.name}: gateway up on port {w.port} ({pid})")
    if failed:
        sys.exit(1)


@gateway.command("stop")
@fleet_option
@wizards_option
@click.option("--timeout", type=float, default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait after SIGINT before SIGKILL.")
def gateway_stop(fleet_path, wizards, timeout):
    """Stop gateways: SIGINT to the process group, wait, then SIGKILL."""
    fleet = load_fleet(fleet_path)
    for w in _selected(fleet, wizards, need_gateway=True):
        click.echo(f"{w.name}: {stop_gateway(w, timeout=timeout)}")


@gateway.command("status")
@fleet_option
@wizards_option
@json_option
def gateway_status_cmd(fleet_path, wizards, as_json):
    """Show each gateway: up, unhealthy, down or none, with its pid and health check."""
    fleet = load_fleet(fleet_path)
    sts = [gateway_status(w) for w in _selected(fleet, wizards, need_gateway=False)]
    if as_json:
        echo_json([s.to_dict() for s in sts])
        return
    rows = [[s.wizard, str(fleet.wizard(s.wizard).port), s.state, str(s.pid or "-"), s.detail] for s in sts]
    click.echo(table(rows, ["WIZARD", "PORT", "GATEWAY", "PID", "DETAIL"]))


# ---------------------------------------------------------------------------------------------
# robe status, robe doctor


@click.command()
@fleet_option
@wizards_option
@json_option
def status(fleet_path, wizards, as_json):
    """Each wizard's state (Robed, Unrobed, Lobster, Dead), queue counts and active claims.

    \b
    Robed    gateway up,   executor up
    Unrobed  gateway down, executor up
    Lobster  gateway up,   executor down
    Dead     gateway down, executor down

    A wizard whose daily budget (or the fleet's) is used up is shown as paused, with when it
    resumes: it gets no new claims until then.
    """
    fleet = load_fleet(fleet_path)
    sts = fleet_status(fleet, list(wizards) or None)
    if as_json:
        echo_json([s.to_dict() for s in sts])
        return
    if not sts:
        click.echo(f"No wizards in {fleet.path}; add one with 'robe wizard create NAME'.")
        return
    rows = [[s.wizard.name, s.state + (", paused" if s.pause is not None else ""), s.gateway.state,
             "up" if s.executor.alive else "down", str(len(s.claims)),
             s.queue_error and "unreadable" or _counts_text(s.counts)] for s in sts]
    click.echo(table(rows, ["WIZARD", "STATE", "GATEWAY", "EXECUTOR", "CLAIMS", "QUEUE"]))
    for s in sts:
        if s.pause is not None:
            click.echo(f"  {s.wizard.name}: {s.pause.reason}")
        for c in s.claims:
            attempt = f", attempt {c.attempt}" if c.attempt else ""
            click.echo(f"  {s.wizard.name}: {c.task} claimed {_age(c.age_s)} ago{attempt}")
    from ..engine.progress import read_run_file

    run = read_run_file(fleet)
    if run and run.get("errors"):
        click.echo(f"\nrobe run (pid {run['pid']}) reports, as of {run.get('updated_at')}:")
        for e in run["errors"]:
            click.echo("  " + str(e).replace("\n", "\n  "))


@click.command()
@fleet_option
@json_option
def doctor(fleet_path, as_json):
    """Check the fleet against the seed's troubleshooting table; exit 1 if anything FAILs.

    Port conflicts, shared homes or memories, permissions looser than 0700 (houses, homes) or
    0600 (.env), fleet.yaml and config.yaml disagreeing on a port, queue errors, gateways down,
    cron entries missing or out of step with fleet.yaml.
    """
    checks = run_doctor(fleet_path)
    failed = any(c.level == FAIL for c in checks)
    if as_json:
        echo_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            click.echo(f"{c.level:<4}  {c.subject}: {c.name}: {c.message}")
            if c.level != OK and c.fix:
                click.echo(f"      fix: {c.fix}")
        click.echo(f"doctor: {summary(checks)}")
    if failed:
        sys.exit(1)
