"""Connecting a model is one flag, and the key never lands in fleet.yaml (issue 16, point 2).

Through the CLI as a person types it: --model, --base-url, --context-length, --api-key - (stdin)
and --api-key-env NAME on 'robe init' and 'robe wizard create'; 'robe wizard set'; the key only
ever in the home's .env (0600), and found there by the agents that need it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from robe.cli import cli
from robe.fleet.config import load_fleet
from robe.fleet.homes import read_env

from ..support import settle
from .model_stub import ModelStub

KEY = "sk-live-7f3a9c2e41d8b6a0"


def files_holding(folder, text: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``text``, relative to it."""
    found = []
    for root, _dirs, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                if text.encode() in f.read():
                    found.append(os.path.relpath(p, folder))
    return sorted(found)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_with_a_model_and_a_key_from_stdin(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    r = runner.invoke(cli, ["init", str(tmp_path / "w"), "-w", "ezra", "--model", "qwen2.5:7b", "--base-url",
                            "http://127.0.0.1:11434/v1", "--context-length", "65536", "--api-key", "-"],
                      input=KEY + "\n", catch_exceptions=False)
    assert r.exit_code == 0, r.output
    w = load_fleet(str(tmp_path / "w" / "fleet.yaml")).wizard("ezra")
    assert w.agent.to_dict() == {"kind": "hermes", "model": "qwen2.5:7b", "base_url": "http://127.0.0.1:11434/v1",
                                 "context_length": 65536, "api_key_env": "MODEL_API_KEY"}
    # The key is in the home's .env, 0600, and in no other file of the fleet.
    assert files_holding(tmp_path / "w", KEY) == ["ezra/home/.env"]
    assert read_env(w.env_file)["MODEL_API_KEY"] == KEY and mode(w.env_file) == 0o600
    assert mode(tmp_path / "w" / "fleet.yaml") == 0o644
    cfg = yaml.safe_load(Path(w.config_file).read_text())
    assert cfg["model"] == {"default": "qwen2.5:7b", "provider": "custom", "base_url": "http://127.0.0.1:11434/v1",
                            "context_length": 65536, "api_key": "${MODEL_API_KEY}"}
    assert "robe" in cfg["mcp_servers"]  # robe's MCP server is still listed


def test_wizard_create_copies_the_key_from_the_variable_it_names(runner, fleet_path, fleet_dir, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    r = runner.invoke(cli, ["wizard", "create", "scribe", "--fleet", fleet_path, "--base-url",
                            "https://openrouter.ai/api/v1", "--model", "m1", "--api-key-env", "OPENROUTER_API_KEY"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    w = load_fleet(fleet_path).wizard("scribe")
    assert w.agent.api_key_env == "OPENROUTER_API_KEY"
    assert files_holding(fleet_dir, KEY) == ["scribe/home/.env"]
    assert yaml.safe_load(Path(w.config_file).read_text())["model"]["api_key"] == "${OPENROUTER_API_KEY}"
    monkeypatch.delenv("OPENROUTER_API_KEY")
    r = runner.invoke(cli, ["wizard", "create", "other", "--fleet", fleet_path, "--api-key-env", "OPENROUTER_API_KEY"])
    assert r.exit_code == 1
    assert "the environment variable OPENROUTER_API_KEY is not set in this shell; export it first, or give the key " \
           "on stdin with --api-key -" in r.output
    assert "other" not in load_fleet(fleet_path).names


def test_a_key_on_the_command_line_or_in_config_yaml_is_refused(runner, fleet_path, fleet_dir, ports):
    before = Path(fleet_path).read_text()
    r = runner.invoke(cli, ["wizard", "create", "x", "--fleet", fleet_path, "--api-key", KEY])
    assert r.exit_code == 2
    assert "a key on the command line stays in your shell history and shows in ps; give --api-key - and the key on " \
           "stdin, or --api-key-env NAME" in r.output
    r = runner.invoke(cli, ["wizard", "create", "x", "--fleet", fleet_path, "--hermes-config",
                            f"model.api_key={KEY}"])
    assert r.exit_code == 2
    assert "model.api_key would put a secret in config.yaml" in r.output and "--api-key -" in r.output
    assert Path(fleet_path).read_text() == before and not (fleet_dir / "x").exists()
    assert files_holding(fleet_dir, KEY) == []
    # Written into fleet.yaml by hand, it is an error with its line.
    Path(fleet_path).write_text(before + f"  x:\n    port: {ports[1]}\n    agent:\n      kind: hermes\n      config: "
                                         f"{{model: {{api_key: {KEY}}}}}\n")
    r = runner.invoke(cli, ["status", "--fleet", fleet_path])
    assert r.exit_code == 1
    assert "wizards.x.agent.config.model.api_key: is a secret written out in fleet.yaml, which others can read; " \
           "delete it there" in r.output


def test_too_little_context_for_hermes_is_refused(runner, fleet_path):
    r = runner.invoke(cli, ["wizard", "create", "x", "--fleet", fleet_path, "--context-length", "4096"])
    assert r.exit_code == 1
    assert "a context length of 4096 is too small for Hermes, which needs at least 64,000 tokens" in r.output
    r = runner.invoke(cli, ["wizard", "create", "x", "--fleet", fleet_path, "--agent", "openai", "--base-url",
                            "http://127.0.0.1:9/v1", "--model", "small", "--context-length", "4096"])
    assert r.exit_code == 0, r.output  # only Hermes needs 64K


def test_wizard_set_changes_only_those_lines_and_keeps_the_persons_config(runner, fleet_path, fleet_dir):
    assert runner.invoke(cli, ["wizard", "create", "ezra", "--fleet", fleet_path, "--context-length", "65536"],
                         catch_exceptions=False).exit_code == 0
    # A person's comment in fleet.yaml, and their own keys in config.yaml.
    text = Path(fleet_path).read_text().replace("wizards:\n", "wizards:   # the fleet\n")
    Path(fleet_path).write_text(text)
    w = load_fleet(fleet_path).wizard("ezra")
    cfg = yaml.safe_load(Path(w.config_file).read_text())
    cfg["agent"] = {"max_turns": 7}
    cfg["model"]["temperature"] = 0.2
    Path(w.config_file).write_text(yaml.safe_dump(cfg))
    r = runner.invoke(cli, ["wizard", "set", "ezra", "model=llama3.1:8b", "base_url=http://127.0.0.1:8080/v1",
                            "context_length=", "--fleet", fleet_path], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[:3] == ["ezra: model = llama3.1:8b", "ezra: base_url = http://127.0.0.1:8080/v1",
                                         "ezra: context_length = (removed)"]
    after = Path(fleet_path).read_text()
    changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines()) if a != b]
    assert changed == [("    agent: {kind: hermes, context_length: 65536}",
                        "    agent: {kind: hermes, model: 'llama3.1:8b', base_url: 'http://127.0.0.1:8080/v1'}")]
    assert len(text.splitlines()) == len(after.splitlines()) and "wizards:   # the fleet" in after
    cfg = yaml.safe_load(Path(w.config_file).read_text())
    assert cfg["model"] == {"default": "llama3.1:8b", "provider": "custom", "base_url": "http://127.0.0.1:8080/v1",
                            "temperature": 0.2}
    assert cfg["agent"] == {"max_turns": 7} and cfg["platforms"]["api_server"]["extra"]["port"] == w.port
    # A block-style agent gets one line changed, one added.
    Path(fleet_path).write_text(after.replace(
        "    agent: {kind: hermes, model: 'llama3.1:8b', base_url: 'http://127.0.0.1:8080/v1'}",
        "    agent:\n      kind: hermes   # mine\n      model: llama3.1:8b"))
    assert runner.invoke(cli, ["wizard", "set", "ezra", "model=qwen3:8b", "context_length=131072", "max_active=2",
                               "--fleet", fleet_path]).exit_code == 0
    assert "    agent:\n      kind: hermes   # mine\n      model: qwen3:8b\n      context_length: 131072\n" \
           in Path(fleet_path).read_text()
    w = load_fleet(fleet_path).wizard("ezra")
    assert (w.max_active, w.agent.context_length) == (2, 131072)
    r = runner.invoke(cli, ["wizard", "set", "ezra", "context_length=2048", "--fleet", fleet_path])
    assert r.exit_code == 1 and "too small for Hermes" in r.output
    r = runner.invoke(cli, ["wizard", "set", "ezra", "port=9999", "--fleet", fleet_path])
    assert r.exit_code == 1 and "'port=9999' is not a setting robe wizard set changes" in r.output


def test_wizard_set_api_key_replaces_the_key_in_env_only(runner, fleet_path, fleet_dir):
    assert runner.invoke(cli, ["wizard", "create", "ezra", "--fleet", fleet_path, "--api-key", "-"],
                         input=KEY).exit_code == 0
    w = load_fleet(fleet_path).wizard("ezra")
    before = Path(w.env_file).read_text()
    r = runner.invoke(cli, ["wizard", "set", "ezra", "--api-key", "-", "--fleet", fleet_path], input="sk-new-key-2\n",
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    after = Path(w.env_file).read_text()
    assert after == before.replace(f"MODEL_API_KEY={KEY}", "MODEL_API_KEY=sk-new-key-2")
    assert mode(w.env_file) == 0o600 and files_holding(fleet_dir, KEY) == []
    assert files_holding(fleet_dir, "sk-new-key-2") == ["ezra/home/.env"]


def test_an_openai_wizard_sends_the_key_from_its_home(runner, fleet_path, fleet_dir, monkeypatch):
    monkeypatch.delenv("MODEL_API_KEY", raising=False)
    with ModelStub(reply="42", key=KEY) as stub:
        r = runner.invoke(cli, ["wizard", "create", "oracle", "--fleet", fleet_path, "--agent", "openai",
                                "--base-url", stub.base_url, "--model", "stub-model", "--api-key", "-"], input=KEY)
        assert r.exit_code == 0, r.output
        w = load_fleet(fleet_path).wizard("oracle")
        assert runner.invoke(cli, ["queue", "add", "What is six times seven?", "-w", "oracle", "--fleet",
                                   fleet_path]).exit_code == 0
        settle(w.queue)
        assert runner.invoke(cli, ["dispatch", "--fleet", fleet_path]).exit_code == 0
        r = runner.invoke(cli, ["execute", "--once", "--fleet", fleet_path], catch_exceptions=False)
        assert "COMPLETE" in r.output, r.output
    assert [q["headers"].get("Authorization") for q in stub.requests] == [f"Bearer {KEY}"]


@pytest.mark.hermes
def test_hermes_reads_the_key_from_its_home_through_config_yaml(runner, fleet_path, fleet_dir, monkeypatch,
                                                                 hermes_bin, tmp_path):
    monkeypatch.setenv("ROBE_HERMES", hermes_bin)
    monkeypatch.setenv("HOME", str(tmp_path / "nobody-home"))
    monkeypatch.delenv("MODEL_API_KEY", raising=False)
    with ModelStub(reply="The key worked.", key=KEY) as stub:
        r = runner.invoke(cli, ["wizard", "create", "hermy", "--fleet", fleet_path, "--model", "stub-model",
                                "--base-url", stub.base_url, "--context-length", "131072", "--api-key", "-"],
                          input=KEY)
        assert r.exit_code == 0, r.output
        w = load_fleet(fleet_path).wizard("hermy")
        assert runner.invoke(cli, ["queue", "add", "Say the key worked", "-w", "hermy", "--fleet",
                                   fleet_path]).exit_code == 0
        settle(w.queue)
        assert runner.invoke(cli, ["dispatch", "--no-gateway", "--fleet", fleet_path]).exit_code == 0
        r = runner.invoke(cli, ["execute", "--once", "--fleet", fleet_path], catch_exceptions=False)
    assert "hermy  TASK-001  COMPLETE" in r.output, r.output
    sent = {q["headers"].get("Authorization") for q in stub.requests if q["path"].endswith("/chat/completions")}
    assert sent == {f"Bearer {KEY}"}
    assert files_holding(fleet_dir, KEY) == ["hermy/home/.env"]  # Hermes wrote it nowhere else either
