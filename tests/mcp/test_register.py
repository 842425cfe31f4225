"""robe wizard create (and robe init) list robe's MCP server in a Hermes wizard's config.yaml,
acting as that wizard; --no-mcp leaves it out; the listed command starts a working server."""

from __future__ import annotations

import os

import anyio
import yaml
from click.testing import CliRunner
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from robe.cli import cli
from robe.fleet.config import load_fleet

from .conftest import ROBE


def _robe(*args):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def _config(fleet_path: str, name: str) -> dict:
    with open(load_fleet(fleet_path).wizard(name).config_file, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_a_new_hermes_wizard_has_robes_tools_as_itself(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    _robe("init", str(tmp_path), "--agent", "echo")
    fleet_path = str(tmp_path / "fleet.yaml")
    _robe("wizard", "create", "ezra", "--fleet", fleet_path)
    _robe("wizard", "create", "quiet", "--fleet", fleet_path, "--no-mcp")
    entry = _config(fleet_path, "ezra")["mcp_servers"]["robe"]
    assert entry == {"command": ROBE, "args": ["mcp", "--fleet", fleet_path, "--as", "ezra"],
                     "env": {"ROBE_WIZARD": "ezra", "ROBE_TASK_ID": "${ROBE_TASK_ID}"},
                     "timeout": 960, "connect_timeout": 60}
    assert "mcp_servers" not in _config(fleet_path, "quiet")
    assert "mcp_servers" not in _config(fleet_path, "allegro")  # an echo wizard runs no Hermes

    # The entry, run as Hermes would run it (its ${ROBE_TASK_ID} left as is when unset), serves the tools.
    async def tools():
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])
        async with Client(params) as client:
            return [t.name for t in (await client.list_tools()).tools]
    assert anyio.run(tools) == ["list_tasks", "show_task", "add_task", "set_status", "task_answer", "fleet_status",
                                "ask_wizard", "inbox"]


def test_robe_init_lists_it_for_its_first_hermes_wizard_unless_told_not_to(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    _robe("init", str(tmp_path / "a"))
    _robe("init", str(tmp_path / "b"), "--no-mcp")
    a = _config(str(tmp_path / "a" / "fleet.yaml"), "allegro")
    assert a["mcp_servers"]["robe"]["args"][-2:] == ["--as", "allegro"]
    assert os.path.isabs(a["mcp_servers"]["robe"]["args"][2])
    assert "mcp_servers" not in _config(str(tmp_path / "b" / "fleet.yaml"), "allegro")
