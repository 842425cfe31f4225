"""Fixtures for robe's MCP server: a fleet of echo wizards, and the mcp SDK's own client
talking to a real ``robe mcp`` process over stdio."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from ..ask.conftest import make_fleet

ROBE = os.path.join(os.path.dirname(sys.executable), "robe")


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    return make_fleet(tmp_path, ("ezra", "allegro", "bob"))


def serve(fleet_path: str, session, *, as_wizard: str | None = None, env: dict | None = None):
    """Start ``robe mcp`` for the fleet (as ``as_wizard``), connect the SDK's Client to it, and
    return what ``await session(client)`` returns."""
    args = ["mcp", "--fleet", fleet_path] + (["--as", as_wizard] if as_wizard else [])
    params = StdioServerParameters(command=ROBE, args=args, env={"PYTHONDONTWRITEBYTECODE": "1", **(env or {})})

    async def main():
        async with Client(params) as client:
            return await session(client)
    return anyio.run(main)


async def call(client, name: str, **arguments):
    """(is_error, the result as JSON, or its text when it is an error)."""
    r = await client.call_tool(name, arguments)
    text = "".join(c.text for c in r.content if getattr(c, "text", None) is not None)
    return r.is_error, (text if r.is_error else json.loads(text))
