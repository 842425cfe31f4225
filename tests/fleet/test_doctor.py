"""robe doctor finds each planted fault and says how to fix it; a healthy fleet passes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from robe.cli import cli
from robe.fleet.config import load_fleet

from .conftest import gateway_cmd


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture
def two(runner, fleet_path):
    for name in ("ezra", "allegro"):
        r = runner.invoke(cli, ["wizard", "create", name, "--agent", "echo", "--gateway-start", gateway_cmd(),
                                "--fleet", fleet_path])
        assert r.exit_code == 0, r.output
    return load_fleet(fleet_path)


def fails(output: str) -> list[str]:
    """FAIL lines, each joined with its fix line."""
    lines = output.splitlines()
    return [line + " | " + lines[i + 1].strip() for i, line in enumerate(lines) if line.startswith("FAIL")]


def test_healthy_fleet_passes(runner, fleet_path, two):
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 0, r.output
    assert fails(r.output) == []
    # the two gateways are down; the cron check warns too (nothing installed; see tests/cron)
    other = [line for line in r.output.splitlines() if line.startswith("WARN") and ": cron: " not in line]
    assert [w.split(": down")[0] for w in other] == ["WARN  ezra: gateway", "WARN  allegro: gateway"]
    assert "WARN  ezra: gateway: down" in r.output
    assert "fix: start it with 'robe gateway start --wizard ezra'" in r.output
    invoke(runner, "gateway", "start", "--fleet", fleet_path)
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 0 and "0 FAIL," in r.output
    assert all(": cron: " in line for line in r.output.splitlines() if line.startswith("WARN"))  # only cron's
    assert f"OK    ezra: ports: port {two.wizard('ezra').port} is held by its gateway (pid " in r.output


def test_duplicate_port(runner, fleet_dir, fleet_path, two):
    text = Path(fleet_path).read_text()
    ezra_port, allegro_port = two.wizard("ezra").port, two.wizard("allegro").port
    Path(fleet_path).write_text(text.replace(f"port: {allegro_port}", f"port: {ezra_port}"))
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    line = text.splitlines().index(f"    port: {allegro_port}") + 1
    assert (f"FAIL  allegro: ports: {fleet_path}:{line}: port {ezra_port} is already used by wizard ezra (line 6) | "
            "fix: give each wizard its own port (or delete the line and let 'robe wizard create' choose)") in fails(r.output)
    # ... and the loader refuses the same file for every other command, with the same sentence.
    r = invoke(runner, "status", "--fleet", fleet_path)
    assert r.exit_code == 1 and f"{fleet_path}:{line}: wizards.allegro.port: port {ezra_port}" in r.stderr


def test_shared_home_through_a_symlink(runner, fleet_dir, fleet_path, two):
    allegro_home = fleet_dir / "allegro" / "home"
    shutil.rmtree(allegro_home)
    os.symlink(fleet_dir / "ezra" / "home", allegro_home)
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    assert (f"FAIL  allegro: home: {fleet_path}:10: the home {allegro_home} is the same folder as the home of wizard "
            "ezra (line 6), so they would share memories and sessions | fix: give each wizard its own home folder"
            ) in fails(r.output)


def test_memories_linked_into_another_home(runner, fleet_dir, fleet_path, two):
    (fleet_dir / "ezra" / "home" / "memories").mkdir(mode=0o700)
    os.symlink(fleet_dir / "ezra" / "home" / "memories", fleet_dir / "allegro" / "home" / "memories")
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    mem = fleet_dir / "allegro" / "home" / "memories"
    assert any(f.startswith(f"FAIL  allegro: home: {mem} leads into wizard ezra's home") and
               f"fix: remove the link and give allegro its own memories/: rm {mem} && mkdir -m 700 {mem}" in f
               for f in fails(r.output)), r.output


def test_house_0755(runner, fleet_dir, fleet_path, two):
    house = fleet_dir / "ezra"
    os.chmod(house, 0o755)
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    assert fails(r.output) == [f"FAIL  ezra: permissions: the house {house} has mode 0755, readable by others | "
                               f"fix: chmod 700 {house}"]


def test_env_0644(runner, fleet_dir, fleet_path, two):
    env = fleet_dir / "allegro" / "home" / ".env"
    os.chmod(env, 0o644)
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert fails(r.output) == [f"FAIL  allegro: permissions: {env} has mode 0644; it holds the api_server key | "
                               f"fix: chmod 600 {env}"]


def test_port_mismatch_with_the_homes_config(runner, fleet_dir, fleet_path, two):
    cfg = fleet_dir / "ezra" / "home" / "config.yaml"
    port = two.wizard("ezra").port
    cfg.write_text(cfg.read_text().replace(f"port: {port}", "port: 8642"))
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    assert fails(r.output) == [
        f"FAIL  ezra: config.yaml: {cfg} says port 8642 but fleet.yaml says {port}; Hermes would listen where robe "
        f"does not look | fix: set platforms.api_server.extra.port: {port} in {cfg} (or change the wizard's port in "
        "fleet.yaml to match)"]


def test_port_held_by_a_process_that_is_not_the_gateway(runner, fleet_path, two, listener):
    port = two.wizard("allegro").port
    listener(port)
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    assert any(f.startswith(f"FAIL  allegro: ports: port {port} is held by pid {os.getpid()} (") and
               "which is not this wizard's gateway" in f for f in fails(r.output)), r.output


def test_queue_errors(runner, fleet_dir, fleet_path, two):
    q = fleet_dir / "ezra" / "WORK-QUEUE.md"
    q.write_text("# Q\n\n### TASK-001: Fine\n- Status: PENDING\n\n### TASK-002: Bad\n- Status: MAYBE\n")
    r = invoke(runner, "doctor", "--fleet", fleet_path)
    assert r.exit_code == 1
    assert any(f.startswith(f"FAIL  ezra: queue: {q}:7:") and "robe queue validate" in f for f in fails(r.output)), \
        r.output


def test_json_and_unloadable_fleet(runner, fleet_path, two, tmp_path):
    data = json.loads(invoke(runner, "doctor", "--json", "--fleet", fleet_path).output)
    assert data["ok"] is True
    assert {"level", "subject", "check", "message", "fix"} <= set(data["checks"][0])
    bad = tmp_path / "bad.yaml"
    bad.write_text("wizards:\n  ezra:\n    port: 80\n")
    r = invoke(runner, "doctor", "--fleet", bad)
    assert r.exit_code == 1
    assert r.output.splitlines()[0].startswith(f"FAIL  fleet: config: {bad}:3: wizards.ezra.port: port 80 is below 1024")
