"""``robe mcp``: robe's MCP server on stdin/stdout, for an agent (Hermes' ``mcp_servers:``)."""

from __future__ import annotations

import click

from ..mcpserver import serve
from .common import examples, fleet_option, plain_errors


@click.command(epilog=examples("robe mcp --as ezra"))
@fleet_option
@click.option("--as", "as_wizard", metavar="WIZARD",
              help="Act as this wizard: its questions, its inbox, its queue by default (default: a person).")
@plain_errors
def mcp(fleet_path, as_wizard):
    """Serve the fleet's tools over MCP on stdin/stdout (for an agent, not a terminal).

    \b
    Tools: list_tasks, show_task, add_task, set_status, task_answer, fleet_status,
    ask_wizard, inbox. Resources: robe://queue/<wizard> for each queue file, and
    robe://report/latest. 'robe wizard create' lists this server in a Hermes wizard's
    config.yaml as that wizard.
    """
    serve(fleet_path, as_wizard)
