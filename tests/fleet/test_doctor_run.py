"""robe doctor checks what actually breaks a run (issue 16, point 3): the agent's program (and
Hermes' version), the model endpoint's /v1/models within a short timeout, config.yaml against
fleet.yaml, and the 64K context Hermes needs. Each failure says the fix."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from robe.cli import cli
from robe.fleet.config import load_fleet

from .model_stub import ModelStub


def doctor(runner, fleet_path, subject: str) -> dict[str, list[tuple[str, str, str]]]:
    """{check: [(level, message, fix)]} of one wizard, from 'robe doctor's text."""
    r = runner.invoke(cli, ["doctor", "--fleet", fleet_path], catch_exceptions=False)
    lines = r.output.splitlines()
    out: dict[str, list] = {}
    for i, line in enumerate(lines):
        if line[:4].strip() in ("OK", "WARN", "FAIL") and line[6:].startswith(f"{subject}: "):
            check, message = line[6 + len(subject) + 2:].split(": ", 1)
            fix = lines[i + 1].strip().removeprefix("fix: ") if i + 1 < len(lines) and \
                lines[i + 1].startswith("      fix: ") else ""
            out.setdefault(check, []).append((line[:4].strip(), message, fix))
    out["_exit"] = r.exit_code
    return out


@pytest.fixture
def no_hermes(monkeypatch, tmp_path):
    """PATH with no hermes on it, and no ROBE_HERMES."""
    monkeypatch.delenv("ROBE_HERMES", raising=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")


def create(runner, fleet_path, name, *args, stdin=None):
    r = runner.invoke(cli, ["wizard", "create", name, "--fleet", fleet_path, *map(str, args)], input=stdin,
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return load_fleet(fleet_path).wizard(name)


def test_hermes_missing_from_path_fails_with_how_to_install(runner, fleet_path, no_hermes):
    with ModelStub() as stub:
        create(runner, fleet_path, "ezra", "--base-url", stub.base_url, "--model", "stub-model")
        got = doctor(runner, fleet_path, "ezra")
    assert got["_exit"] == 1
    assert got["agent"] == [("FAIL", "hermes is not on PATH (and ROBE_HERMES is not set), so no task of this hermes "
                                     "wizard can run",
                             "install Hermes in a virtualenv of its own (python3 -m venv ~/hermes-venv && "
                             "~/hermes-venv/bin/pip install hermes-agent aiohttp), then put ~/hermes-venv/bin on PATH "
                             "or export ROBE_HERMES=~/hermes-venv/bin/hermes")]


def test_hermes_found_through_robe_hermes_shows_its_version(runner, fleet_path, hermes_bin, monkeypatch):
    monkeypatch.setenv("ROBE_HERMES", hermes_bin)
    with ModelStub() as stub:
        create(runner, fleet_path, "ezra", "--base-url", stub.base_url, "--model", "stub-model")
        got = doctor(runner, fleet_path, "ezra")
    (level, message, _), = got["agent"]
    assert level == "OK" and message.startswith(f"hermes at {hermes_bin}: Hermes Agent v0.")
    assert got["model"] == [("OK", f"{stub.base_url}/models answers and lists stub-model", "")]
    assert got["context"] == [("OK", "the endpoint's context length is 131,072 tokens (Hermes needs 64,000)", "")]
    assert got["_exit"] == 0, got


def test_a_hermes_that_does_not_run_fails(runner, fleet_path, tmp_path, monkeypatch):
    broken = tmp_path / "hermes"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named hermes_cli' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("ROBE_HERMES", str(broken))
    create(runner, fleet_path, "ezra")
    (level, message, fix), = doctor(runner, fleet_path, "ezra")["agent"]
    assert level == "FAIL" and message == f"{broken} --version failed (ModuleNotFoundError: No module named hermes_cli)"
    assert fix == f"reinstall hermes-agent in its virtualenv ({tmp_path}/pip install -U hermes-agent aiohttp)"


def test_a_command_agent_whose_program_is_missing_fails(runner, fleet_path):
    create(runner, fleet_path, "cmd", "--agent", "command", "--command", "no-such-agent-x --prompt-file {prompt_file}")
    create(runner, fleet_path, "py", "--agent", "command", "--command", f"{sys.executable} -c pass")
    assert doctor(runner, fleet_path, "cmd")["agent"] == [
        ("FAIL", "the agent's program 'no-such-agent-x' is not found (or not executable)",
         "install it, or write its full path as the first word of agent.argv in fleet.yaml")]
    assert doctor(runner, fleet_path, "py")["agent"] == [("OK", f"the agent's program is {sys.executable}", "")]


def test_a_model_endpoint_that_is_down_refuses_the_key_or_lacks_the_model(runner, fleet_path, no_hermes):
    stub = ModelStub(key="sk-right-key", model="other-model", context_length=None)
    down = stub.base_url
    stub.server.server_close()  # nothing listens there now
    create(runner, fleet_path, "ezra", "--agent", "openai", "--base-url", down, "--model", "m1")
    (level, message, fix), = doctor(runner, fleet_path, "ezra")["model"]
    assert level == "FAIL" and message.startswith(f"the model endpoint {down}/models does not answer (")
    assert fix == ("start the model server (Ollama: 'ollama serve'), or point the wizard at yours: robe wizard set "
                   "ezra base_url=http://HOST:PORT/v1")
    with ModelStub(key="sk-right-key", model="other-model", context_length=None) as stub:
        runner.invoke(cli, ["wizard", "set", "ezra", f"base_url={stub.base_url}", "--fleet", fleet_path])
        assert doctor(runner, fleet_path, "ezra")["model"] == [
            ("FAIL", f"the model endpoint {stub.base_url}/models does not answer (HTTP 401)",
             'give the right key: printf %s "$KEY" | robe wizard set ezra --api-key -')]
        assert runner.invoke(cli, ["wizard", "set", "ezra", "--api-key", "-", "--fleet", fleet_path],
                             input="sk-right-key").exit_code == 0
        assert doctor(runner, fleet_path, "ezra")["model"] == [
            ("WARN", f"{stub.base_url}/models answers but does not list the model 'm1' (it lists other-model)",
             "'robe wizard set ezra model=NAME' with one it lists (Ollama: 'ollama pull m1' fetches it)")]
        runner.invoke(cli, ["wizard", "set", "ezra", "model=other-model", "--fleet", fleet_path])
        got = doctor(runner, fleet_path, "ezra")
    assert got["model"] == [("OK", f"{stub.base_url}/models answers and lists other-model", "")]
    assert "context" not in got  # only Hermes has a minimum


def test_the_endpoint_has_a_short_timeout(runner, fleet_path, no_hermes):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        create(runner, fleet_path, "ezra", "--agent", "openai", "--base-url", url, "--model", "m1")
        t = time.monotonic()
        (level, message, _), = doctor(runner, fleet_path, "ezra")["model"]
        assert time.monotonic() - t < 10
        assert level == "FAIL" and "timed out" in message
    finally:
        silent.close()


def test_config_yaml_disagreeing_with_fleet_yaml_fails_until_wizard_set(runner, fleet_path, no_hermes):
    with ModelStub() as stub:
        w = create(runner, fleet_path, "ezra", "--base-url", stub.base_url, "--model", "stub-model",
                   "--context-length", 65536)
        cfg = yaml.safe_load(Path(w.config_file).read_text())
        cfg["model"].update(default="llama3", context_length=32768, base_url="http://10.0.0.9:8000/v1")
        cfg["platforms"]["api_server"]["extra"]["port"] = 8642
        cfg["display"] = {"skin": "mine"}
        Path(w.config_file).write_text(yaml.safe_dump(cfg))
        got = doctor(runner, fleet_path, "ezra")
        fails = [(m, f) for level, m, f in got["config.yaml"] if level == "FAIL"]
        assert fails == [
            (f"{w.config_file} says port 8642 but fleet.yaml says {w.port}; Hermes would listen where robe does not "
             "look", f"set platforms.api_server.extra.port: {w.port} in {w.config_file} (or change the wizard's port "
                     "in fleet.yaml to match)"),
            (f"{w.config_file} says model 'llama3' but fleet.yaml says 'stub-model'; Hermes would use the config.yaml "
             "one", "run 'robe wizard set ezra' to write fleet.yaml's model settings into config.yaml (its other keys "
                    "stay), or 'robe wizard set ezra model=...' to change both"),
            (f"{w.config_file} says base_url 'http://10.0.0.9:8000/v1' but fleet.yaml says '{stub.base_url}'; Hermes "
             "would use the config.yaml one", "run 'robe wizard set ezra' to write fleet.yaml's model settings into "
                                              "config.yaml (its other keys stay), or 'robe wizard set ezra "
                                              "base_url=...' to change both"),
            (f"{w.config_file} says context_length 32768 but fleet.yaml says 65536; Hermes would use the config.yaml "
             "one", "run 'robe wizard set ezra' to write fleet.yaml's model settings into config.yaml (its other keys "
                    "stay), or 'robe wizard set ezra context_length=...' to change both")]
        r = runner.invoke(cli, ["wizard", "set", "ezra", "--fleet", fleet_path], catch_exceptions=False)
        assert r.exit_code == 0 and r.output == f"wrote {w.config_file}\n"
        got = doctor(runner, fleet_path, "ezra")
    assert [level for level, _, _ in got["config.yaml"]] == ["OK", "OK"]
    assert yaml.safe_load(Path(w.config_file).read_text())["display"] == {"skin": "mine"}


def test_a_key_written_into_config_yaml_fails(runner, fleet_path, no_hermes):
    w = create(runner, fleet_path, "ezra")
    cfg = yaml.safe_load(Path(w.config_file).read_text())
    cfg["model"]["api_key"] = "sk-in-the-open-123"
    Path(w.config_file).write_text(yaml.safe_dump(cfg))
    assert ("FAIL", f"{w.config_file} holds a key written out (model.api_key)",
            'move it into the home\'s .env: printf %s "$KEY" | robe wizard set ezra --api-key - (config.yaml then '
            "names it as ${NAME}); delete model.api_key if it stays") in \
        doctor(runner, fleet_path, "ezra")["config.yaml"]


def test_hermes_context_below_64k_fails_and_unknown_warns(runner, fleet_path, no_hermes):
    with ModelStub(context_length=32768) as stub:
        create(runner, fleet_path, "ezra", "--base-url", stub.base_url, "--model", "stub-model")
        fix = ("serve the model with at least 65536 tokens of context (Ollama: OLLAMA_CONTEXT_LENGTH=65536 ollama "
               "serve) and say so: robe wizard set ezra context_length=65536")
        assert doctor(runner, fleet_path, "ezra")["context"] == [
            ("FAIL", "the endpoint's context length is 32,768 tokens; Hermes refuses to run with less than 64,000",
             fix)]
        stub.context_length = None
        assert doctor(runner, fleet_path, "ezra")["context"] == [
            ("WARN", "neither fleet.yaml nor the endpoint says the model's context length; Hermes needs at least "
                     "64,000 tokens", fix)]
        # fleet.yaml edited by hand below the minimum ('robe wizard set' refuses it)
        text = Path(fleet_path).read_text().replace("agent: {kind: hermes,", "agent: {kind: hermes, context_length: "
                                                                             "8192,")
        Path(fleet_path).write_text(text)
        assert doctor(runner, fleet_path, "ezra")["context"] == [
            ("FAIL", "fleet.yaml's context length is 8,192 tokens; Hermes refuses to run with less than 64,000", fix)]


def test_echo_wizards_need_no_program_and_no_endpoint(runner, fleet_path):
    create(runner, fleet_path, "bob", "--agent", "echo")
    got = doctor(runner, fleet_path, "bob")
    assert got["agent"] == [("OK", "the echo agent needs no program", "")]
    assert "model" not in got and "context" not in got
