"""The real Hermes agent (hermes-agent from PyPI), end to end, with a loopback stub model.

Select with ``pytest -m hermes``. Hermes pins its dependencies exactly, so it lives in a
virtualenv of its own, the one the fleet tests build (``$ROBE_HERMES_VENV``, default
``~/.cache/robe-test/hermes-venv``; created with ``pip install hermes-agent aiohttp`` when its
``bin/hermes`` is missing).
"""

from __future__ import annotations

import os

import pytest

from robe.execute import Executor, Options

from .conftest import answer, drop_claim, outcome
from .stub import Stub

pytestmark = pytest.mark.hermes

FAST = Options(scan_interval=0.5, heartbeat_interval=1.0, retries=2, backoff=0.5)


@pytest.fixture
def hermes_env(hermes_bin, monkeypatch, tmp_path):
    """Hermes found through $ROBE_HERMES; HOME elsewhere, so it needs nothing but the home."""
    monkeypatch.setenv("ROBE_HERMES", hermes_bin)
    monkeypatch.setenv("HOME", str(tmp_path / "nobody-home"))
    return hermes_bin


def hermes_wizard(base_url: str, hermes_bin: str, kind: str = "hermes", timeout: int = 240) -> dict:
    agent = {"kind": "hermes", "model": "stub-model", "base_url": base_url, "context_length": 131072,
             "config": {"agent": {"environment_probe": False}, "security": {"tirith_enabled": False}}}
    return {"timeout": timeout, "agent": agent, "gateway": {"start": [hermes_bin, "gateway", "run"]}}


def test_a_task_for_a_hermes_wizard_comes_back_complete_with_the_models_answer(make_fleet, hermes_env, tmp_path):
    with Stub(reply="The gateway logs are rotated. -- stub model") as stub:
        fleet = make_fleet(hermy=hermes_wizard(stub.base_url, hermes_env))
        w = fleet.wizard("hermy")
        drop_claim(w, "TASK-004", "Rotate the gateway logs", body="Keep seven days.")
        Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-004")
    assert o["status"] == "COMPLETE", o
    assert o["agent"] == "hermes" and o["exit_code"] == 0 and o["usage"]["model"] == "stub-model"
    assert answer(w, "TASK-004").strip() == "The gateway logs are rotated. -- stub model"
    # The model saw the task, with its ID and where the answer goes.
    sent = "\n".join(str(m.get("content")) for r in stub.requests for m in r["body"].get("messages", []))
    assert "Rotate the gateway logs" in sent and "Keep seven days." in sent and "Task ID: TASK-004" in sent
    # Hermes kept to the wizard's home (HERMES_HOME): nothing in $HOME.
    assert not (tmp_path / "nobody-home" / ".hermes").exists()
    assert os.listdir(w.home)


def test_with_the_model_server_stopped_hermes_comes_back_failed_with_the_reason(make_fleet, hermes_env):
    stub = Stub()
    base_url = stub.base_url
    stub.server.server_close()  # the port is known but nobody listens: the model is down
    fleet = make_fleet(hermy=hermes_wizard(base_url, hermes_env))
    w = fleet.wizard("hermy")
    drop_claim(w, "TASK-005", "Summarise the day")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-005")
    # Hermes 0.19 exits 0 here and prints its error as if it were the answer.
    assert o["exit_code"] == 0
    assert o["status"] == "FAILED", o
    assert o["error"].startswith("hermes failed: ") and "connection error" in o["error"].lower()


def test_an_openai_wizard_pointed_at_its_own_hermes_gateway_completes(make_fleet, hermes_env):
    from robe.fleet.gateway import start_gateway, stop_gateway

    with Stub(reply="Answered through the Hermes gateway.") as stub:
        settings = hermes_wizard(stub.base_url, hermes_env)
        fleet = make_fleet(gate=settings)
        port = fleet.wizard("gate").port
        # Same wizard, now driven over HTTP: its agent is 'openai' at its own api_server.
        settings["agent"] = {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "hermes-agent"}
        settings["port"] = port
        fleet = make_fleet(gate=settings)
        w = fleet.wizard("gate")
        # The home keeps its Hermes config (written when the agent was hermes) and its .env key.
        start_gateway(w, timeout=120)
        try:
            drop_claim(w, "TASK-006", "Say where you run")
            Executor([w], FAST).run(once=True)
        finally:
            stop_gateway(w, timeout=10)
    o = outcome(w, "TASK-006")
    assert o["status"] == "COMPLETE", o
    assert "Answered through the Hermes gateway." in answer(w, "TASK-006")
    # The gateway ran the turn on the stub model with the task robe sent.
    sent = "\n".join(str(m.get("content")) for r in stub.requests for m in r["body"].get("messages", []))
    assert "Say where you run" in sent and "Task ID: TASK-006" in sent
