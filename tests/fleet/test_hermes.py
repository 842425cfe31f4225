"""The real Hermes agent: a home robe builds is one 'hermes gateway run' accepts.

Select with ``pytest -m hermes``. Hermes pins its dependencies exactly, so it gets a
virtualenv of its own (never the project's): ``$ROBE_HERMES_VENV``, default
``~/.cache/robe-test/hermes-venv``, created with ``pip install hermes-agent aiohttp`` when its
``bin/hermes`` is missing (about 45 s with a warm pip cache). The model is a loopback stub.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import pytest
import yaml

from robe.cli import cli
from robe.fleet.config import load_fleet
from robe.fleet.gateway import process_start_time, read_pid_file
from robe.fleet.homes import read_env
from robe.fleet.ports import port_in_use

from .model_stub import ModelStub

pytestmark = pytest.mark.hermes



def _get(port: int, path: str, key: str | None = None, body: dict | None = None, timeout: float = 60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            c.request("POST", path, body=json.dumps(body), headers=headers)
        else:
            c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_robe_built_home_runs_the_real_hermes_gateway(hermes_bin, runner, fleet_path, monkeypatch, tmp_path):
    # Hermes must not need (or touch) anything outside the wizard's home.
    monkeypatch.setenv("HOME", str(tmp_path / "nobody-home"))
    with ModelStub(reply="Hello from the stub model.") as stub:
        r = runner.invoke(cli, [
            "wizard", "create", "hermy", "--fleet", fleet_path, "--role", "Test wizard",
            "--model", "stub-model", "--base-url", stub.base_url, "--context-length", "131072",
            "--hermes-config", "agent.environment_probe=false", "--hermes-config", "security.tirith_enabled=false",
            "--gateway-start", f"{hermes_bin} gateway run",
        ], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        w = load_fleet(fleet_path).wizard("hermy")
        cfg = yaml.safe_load(Path(w.config_file).read_text())
        assert cfg["model"] == {"default": "stub-model", "provider": "custom", "base_url": stub.base_url,
                                "context_length": 131072}
        key = read_env(w.env_file)["API_SERVER_KEY"]

        r = runner.invoke(cli, ["gateway", "start", "--wizard", "hermy", "--timeout", "90", "--fleet", fleet_path],
                          catch_exceptions=False)
        log = Path(w.gateway_log).read_text(errors="replace") if os.path.exists(w.gateway_log) else ""
        assert r.exit_code == 0, f"{r.output}\n--- gateway.log ---\n{log[-4000:]}"
        pid = read_pid_file(w.pid_file).pid

        # The real api_server, on the wizard's port, on loopback.
        status, body = _get(w.port, "/health")
        assert status == 200, body
        health = json.loads(body)
        assert health["status"] == "ok" and health["platform"] == "hermes-agent"
        # It took the key from the home's .env: without it, no entry; with it, the models list.
        assert _get(w.port, "/v1/models")[0] == 401
        status, body = _get(w.port, "/v1/models", key=key)
        assert status == 200, body

        out = runner.invoke(cli, ["status", "--fleet", fleet_path], catch_exceptions=False).output
        assert out.splitlines()[1].split()[:3] == ["hermy", "Lobster", "up"]

        # A chat through the gateway reaches the stub model with the wizard's settings.
        status, body = _get(w.port, "/v1/chat/completions", key=key, timeout=120, body={
            "model": "stub-model", "messages": [{"role": "user", "content": "Say hello."}]})
        assert status == 200, body[-2000:]
        answer = json.loads(body)["choices"][0]["message"]["content"]
        assert "Hello from the stub model." in answer
        assert any(req["body"].get("model") == "stub-model" for req in stub.requests)

        r = runner.invoke(cli, ["gateway", "stop", "--wizard", "hermy", "--fleet", fleet_path], catch_exceptions=False)
        assert r.output.startswith(f"hermy: stopped pid {pid}") or r.output.startswith(f"hermy: killed pid {pid}")
        assert process_start_time(pid) is None
        assert not port_in_use(w.port)
    assert not (tmp_path / "nobody-home" / ".hermes").exists()
