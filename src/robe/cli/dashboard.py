"""``robe dashboard``: the fleet on one live web page (and the option ``robe run --dashboard`` uses).

The web stack (Starlette, uvicorn, Jinja2) is imported only here, when a dashboard starts.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from .common import examples, fleet_option

TOKEN_HELP = "The token every request must carry (or set ROBE_DASHBOARD_TOKEN); needed on any address but loopback."


@click.command(epilog=examples("robe dashboard --open", "robe dashboard --host 0.0.0.0 --token \"$(openssl rand -hex 16)\""))
@fleet_option
@click.option("--host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="The address to listen on; anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(1, 65535), default=8650, show_default=True, metavar="PORT",
              help="The port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser once it is up.")
@click.option("--read-only", is_flag=True, help="Show the fleet; take no action (no retry, cancel, ...).")
@click.option("--token", envvar="ROBE_DASHBOARD_TOKEN", metavar="T", help=TOKEN_HELP)
def dashboard(fleet_path, host, port, open_browser, read_only, token):
    """Serve the health dashboard: the fleet on one live page.

    \b
    Pages: the fleet (each wizard Robed / Unrobed / Lobster / Dead, its gateway, executor,
    model, port and what it runs), the board (a column per status, a lane per wizard,
    filters), each task (prompt, attempts, answer, events, checkpoint history), failures
    with their reasons, and the seed's success metrics with charts. Pages update by
    themselves within a moment of robe or a person changing a file. Actions (retry, cancel,
    block, unblock, priority, add a task) go through the same locked writer as
    'robe queue set', with the status the page showed as their precondition.

    It listens on 127.0.0.1:8650. To reach it from elsewhere, listen on another address with
    a token (--token or ROBE_DASHBOARD_TOKEN) and open it once as http://HOST:PORT/?token=T;
    put it behind TLS (a reverse proxy) when the network is not yours. Stop it with Ctrl-C.
    """
    from ..api import Fleet
    from ..dashboard.security import Guard
    from ..dashboard.server import serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    fleet = Fleet.load(fleet_path)
    guard = Guard(host, port, token, read_only=read_only)
    serve(fleet, guard, open_browser=open_browser, announce=click.echo)


def start_beside_run(fleet_config, address: str, token: str | None):
    """For ``robe run --dashboard [HOST:]PORT``: the dashboard on a thread of robe run, started
    (a Background to ``stop()``); a RobeError says why it cannot start."""
    from ..api import Fleet
    from ..dashboard.security import TOKEN_ENV, Guard, parse_address
    from ..dashboard.server import Background

    host, port = parse_address(address)
    guard = Guard(host, port, token or os.environ.get(TOKEN_ENV))
    return Background(Fleet(fleet_config), guard).start()
