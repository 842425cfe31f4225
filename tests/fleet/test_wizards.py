"""robe init and robe wizard create/list/show/remove, through the CLI, on real folders and sockets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from robe.cli import cli
from robe.fleet.config import load_fleet
from robe.fleet.homes import read_env

from .conftest import gateway_cmd


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_three_wizards_get_three_ports_and_skip_a_held_one(runner, fleet_path, ports, listener):
    first = ports[0]
    listener(first + 1)  # something on the machine already listens here
    got = []
    for name in ("ezra", "allegro-primus", "allegro"):
        r = invoke(runner, "wizard", "create", name, "--fleet", fleet_path)
        assert r.exit_code == 0, r.output
        got.append(load_fleet(fleet_path).wizard(name).port)
    assert got == [first, first + 2, first + 3]
    assert len(set(got)) == 3


def test_port_taken_by_a_wizard_is_refused_with_its_name(runner, fleet_path, ports):
    assert invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path).exit_code == 0
    before = Path(fleet_path).read_text()
    r = runner.invoke(cli, ["wizard", "create", "allegro", "--port", str(ports[0]), "--fleet", fleet_path])
    assert r.exit_code == 1
    assert r.stderr == (f"Error: port {ports[0]} is already taken by wizard ezra; pick another with --port, "
                        "or leave --port out and robe picks a free one\n")
    assert Path(fleet_path).read_text() == before
    assert not os.path.exists(os.path.join(os.path.dirname(fleet_path), "allegro"))


def test_port_taken_by_a_process_is_refused(runner, fleet_path, ports, listener):
    listener(ports[0] + 3)
    r = runner.invoke(cli, ["wizard", "create", "ezra", "--port", str(ports[0] + 3), "--fleet", fleet_path])
    assert r.exit_code == 1
    assert f"port {ports[0] + 3} is already taken by another process (pid {os.getpid()}" in r.stderr


def test_port_outside_range_is_refused(runner, fleet_path, ports):
    r = runner.invoke(cli, ["wizard", "create", "ezra", "--port", str(ports[1] + 1), "--fleet", fleet_path])
    assert r.exit_code == 1 and "outside the fleet's range" in r.stderr


def test_create_builds_a_private_house_with_a_hermes_home(runner, fleet_dir, fleet_path, ports):
    r = invoke(runner, "wizard", "create", "ezra", "--role", "Scribe, archivist", "--fleet", fleet_path,
               "--model", "stub-model", "--base-url", "http://127.0.0.1:9/v1")
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == f"Created wizard ezra on port {ports[0]} (hermes agent)."
    house = fleet_dir / "ezra"
    home = house / "home"
    for d in (house, home, house / "work", house / "completed", house / "logs", house / "reports"):
        assert d.is_dir() and mode(d) == 0o700, d
    assert mode(home / ".env") == 0o600
    key = read_env(str(home / ".env"))["API_SERVER_KEY"]
    assert len(key) >= 32
    cfg = yaml.safe_load((home / "config.yaml").read_text())
    assert cfg["model"] == {"default": "stub-model", "provider": "custom", "base_url": "http://127.0.0.1:9/v1"}
    assert cfg["platforms"]["api_server"] == {"enabled": True, "extra": {"host": "127.0.0.1", "port": ports[0]}}
    soul = (home / "SOUL.md").read_text()
    assert soul.startswith("# Ezra House Charter\n")
    for part in ("Entity:", "Lineage:", "Canonical placement:", f"HERMES_HOME={home}", "Role:\n- Scribe, archivist",
                 "Relationship to"):
        assert part in soul, part
    script = (house / "start-gateway.sh").read_text()
    assert f"export HERMES_HOME={home}\n" in script and script.endswith("exec hermes gateway run\n")
    assert (house / "WORK-QUEUE.md").exists()
    w = load_fleet(fleet_path).wizard("ezra")
    assert (w.role, w.agent.kind, w.agent.model) == ("Scribe, archivist", "hermes", "stub-model")


def test_two_creates_get_different_keys(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "a", "--fleet", fleet_path)
    invoke(runner, "wizard", "create", "b", "--fleet", fleet_path)
    ka = read_env(str(fleet_dir / "a" / "home" / ".env"))["API_SERVER_KEY"]
    kb = read_env(str(fleet_dir / "b" / "home" / ".env"))["API_SERVER_KEY"]
    assert ka != kb


def test_start_script_quotes_awkward_paths(runner, tmp_path, ports, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    d = tmp_path / "it's a fleet; $(rm -rf ~)"
    d.mkdir()
    (d / "fleet.yaml").write_text(f"ports: {{first: {ports[0]}, last: {ports[1]}}}\nwizards:\n")
    r = invoke(runner, "wizard", "create", "ezra", "--fleet", d / "fleet.yaml",
               "--gateway-start", gateway_cmd())
    assert r.exit_code == 0
    script = d / "ezra" / "start-gateway.sh"
    # sh itself must read the paths back exactly: print them instead of exec'ing the gateway.
    text = script.read_text().replace("exec ", "printf '%s\\n' ")
    out = subprocess.run(["sh", "-c", text + 'printf "%s\\n" "$HERMES_HOME" "$PWD"'], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[-2:] == [str(d / "ezra" / "home"), str(d / "ezra")]


def test_names_are_checked(runner, fleet_path):
    for bad in ("Ezra", "ezra_1", "-x", "a b", "../x", "x-"):
        r = runner.invoke(cli, ["wizard", "create", "--fleet", fleet_path, "--", bad])
        assert r.exit_code == 1 and "is not a wizard name" in r.stderr, bad


def test_existing_wizard_is_refused(runner, fleet_path):
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path)
    r = runner.invoke(cli, ["wizard", "create", "ezra", "--fleet", fleet_path])
    assert r.exit_code == 1 and "wizard ezra already exists" in r.stderr


def test_registering_keeps_the_rest_of_fleet_yaml(runner, fleet_path):
    before = Path(fleet_path).read_text()
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path)
    after = Path(fleet_path).read_text()
    assert after.startswith(before)
    assert "# a range of its own" in after


def test_clone_copies_soul_and_model_never_port_key_or_memories(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path, "--role", "Scribe",
           "--model", "claude-opus-4.6", "--base-url", "http://127.0.0.1:9/v1")
    src_home = fleet_dir / "ezra" / "home"
    (src_home / "SOUL.md").write_text((src_home / "SOUL.md").read_text() + "\nA line only ezra's soul has.\n")
    (src_home / "memories").mkdir()
    (src_home / "memories" / "MEMORY.md").write_text("secret memory")
    (src_home / "sessions").mkdir()
    r = invoke(runner, "wizard", "create", "ezra-two", "--clone-from", "ezra", "--fleet", fleet_path)
    assert r.exit_code == 0
    fleet = load_fleet(fleet_path)
    src, new = fleet.wizard("ezra"), fleet.wizard("ezra-two")
    assert new.port != src.port
    assert (new.agent.model, new.agent.base_url, new.role) == ("claude-opus-4.6", "http://127.0.0.1:9/v1", "Scribe")
    soul = (fleet_dir / "ezra-two" / "home" / "SOUL.md").read_text()
    assert soul.startswith("# Ezra-Two House Charter\n\nEntity:\n- Ezra-Two, Scribe\n")
    assert "A line only ezra's soul has." in soul
    assert str(src_home) not in soul and f"HERMES_HOME={new.home}" in soul
    new_home = fleet_dir / "ezra-two" / "home"
    assert not (new_home / "memories").exists() and not (new_home / "sessions").exists()
    assert read_env(str(new_home / ".env"))["API_SERVER_KEY"] != read_env(str(src_home / ".env"))["API_SERVER_KEY"]
    cfg = yaml.safe_load((new_home / "config.yaml").read_text())
    assert cfg["platforms"]["api_server"]["extra"]["port"] == new.port


def test_list_and_show(runner, fleet_path, ports):
    invoke(runner, "wizard", "create", "ezra", "--role", "Scribe, archivist", "--fleet", fleet_path)
    invoke(runner, "wizard", "create", "allegro", "--agent", "echo", "--fleet", fleet_path)
    r = invoke(runner, "wizard", "list", "--fleet", fleet_path)
    assert r.output.splitlines() == [
        "NAME     PORT   AGENT   STATE  QUEUE  ROLE",
        f"ezra     {ports[0]}  hermes  Dead   empty  Scribe, archivist",
        f"allegro  {ports[0] + 1}  echo    Dead   empty  -",
    ]
    data = json.loads(invoke(runner, "wizard", "list", "--json", "--fleet", fleet_path).output)
    assert data[0] == {"name": "ezra", "role": "Scribe, archivist", "port": ports[0], "agent": "hermes",
                       "state": "Dead", "counts": {}}
    show = invoke(runner, "wizard", "show", "ezra", "--fleet", fleet_path).output
    assert f"port           {ports[0]}\n" in show and "state          Dead\n" in show
    data = json.loads(invoke(runner, "wizard", "show", "ezra", "--json", "--fleet", fleet_path).output)
    assert data["name"] == "ezra" and data["state"] == "Dead" and data["gateway"]["state"] == "down"
    r = runner.invoke(cli, ["wizard", "show", "ezr", "--fleet", fleet_path])
    assert r.exit_code == 1 and "did you mean 'ezra'" in r.stderr


def test_remove_keeps_files_unless_purge(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path)
    invoke(runner, "wizard", "create", "allegro", "--fleet", fleet_path)
    before = Path(fleet_path).read_text()
    r = invoke(runner, "wizard", "remove", "allegro", "--fleet", fleet_path)
    assert r.output == f"Removed wizard allegro from {fleet_path}; its files stay in {fleet_dir / 'allegro'}.\n"
    assert (fleet_dir / "allegro" / "home" / ".env").exists()
    assert load_fleet(fleet_path).names == ["ezra"]
    assert before.startswith(Path(fleet_path).read_text())
    r = invoke(runner, "wizard", "remove", "ezra", "--purge", "--fleet", fleet_path)
    assert r.output == f"Removed wizard ezra and deleted {fleet_dir / 'ezra'}.\n"
    assert not (fleet_dir / "ezra").exists()
    assert load_fleet(fleet_path).names == []


def test_remove_refused_while_a_route_names_it_and_warns_about_pending_tasks(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path)
    invoke(runner, "wizard", "create", "allegro", "--fleet", fleet_path)
    with open(fleet_path, "a") as f:
        f.write("routes:\n  - match: {tags: [research]}\n    wizard: allegro\n")
    r = runner.invoke(cli, ["wizard", "remove", "allegro", "--fleet", fleet_path])
    assert r.exit_code == 1
    assert "a route still sends tasks to allegro; change or delete that route first" in r.stderr
    text = Path(fleet_path).read_text()
    Path(fleet_path).write_text(text[:text.index("routes:")])
    (fleet_dir / "ezra" / "WORK-QUEUE.md").write_text("# Q\n\n- [ ] TASK-001 P1 PENDING Do it\n  Assignee: allegro\n"
                                                     "\n### TASK-002: Done\n- Status: COMPLETE\n- Assignee: allegro\n")
    r = runner.invoke(cli, ["wizard", "remove", "allegro", "--fleet", fleet_path])
    assert r.exit_code == 0
    assert r.stderr == (f"warning: {fleet_dir / 'ezra' / 'WORK-QUEUE.md'}:3: TASK-001 (PENDING) is still assigned "
                        "to allegro; assign it to another wizard\n")


def snapshot(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_mtime_ns, Path(p).read_bytes() if os.path.isfile(p) else None)
    return out


def test_init_creates_a_fleet_and_is_idempotent(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    d = tmp_path / "new"
    r = invoke(runner, "init", d, "--agent", "echo")
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == f"Created in {d}:"
    fleet = load_fleet(str(d / "fleet.yaml"))
    assert fleet.names == ["allegro"] and fleet.default_wizard == "allegro"
    w = fleet.wizard("allegro")
    assert fleet.ports[0] <= w.port <= fleet.ports[1]
    queue = (d / "allegro" / "WORK-QUEUE.md").read_text()
    assert "TASK-001" in queue and "TASK-002" in queue and "TASK-003" in queue
    from robe.queue import load

    q = load(str(d / "allegro" / "WORK-QUEUE.md"), known_assignees={"allegro"})
    assert not q.errors and len(q.tasks) == 3
    before = snapshot(d)
    r = invoke(runner, "init", d)
    assert r.exit_code == 0
    assert r.output == (f"Nothing to do: {d / 'fleet.yaml'} and the houses of its 1 wizard are already in place; "
                        "nothing was changed.\n")
    assert snapshot(d) == before


def test_init_on_an_existing_fleet_builds_missing_houses_only(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "ezra", "--fleet", fleet_path)
    env = fleet_dir / "ezra" / "home" / ".env"
    key = env.read_text()
    soul = fleet_dir / "ezra" / "home" / "SOUL.md"
    soul.write_text("my own soul\n")
    env.unlink()
    r = invoke(runner, "init", "--fleet", fleet_path)
    assert r.output.splitlines()[1:2] == [f"  {env}"]
    assert env.read_text() != key and mode(env) == 0o600
    assert soul.read_text() == "my own soul\n"


def test_init_on_a_fleet_without_wizards_adds_the_first(runner, fleet_dir, fleet_path):
    r = invoke(runner, "init", fleet_dir, "--wizard", "ezra", "--agent", "echo")
    assert r.exit_code == 0
    fleet = load_fleet(fleet_path)
    assert fleet.names == ["ezra"]
    assert "# a range of its own" in Path(fleet_path).read_text()
    assert (fleet_dir / "ezra" / "WORK-QUEUE.md").read_text().count("TASK-00") == 3
    assert invoke(runner, "init", fleet_dir).output.startswith("Nothing to do: ")


def test_concurrent_creates_get_distinct_ports_and_all_stay_registered(fleet_path):
    code = "import sys; from robe.cli import main; main(sys.argv[1:])"
    procs = [subprocess.Popen([sys.executable, "-c", code, "wizard", "create", f"w{i}", "--agent", "echo",
                               "--fleet", fleet_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    fleet = load_fleet(fleet_path)
    assert sorted(fleet.names) == ["w0", "w1", "w2", "w3"]
    assert len({w.port for w in fleet.wizards}) == 4


def test_command_agent_and_hermes_settings(runner, fleet_path):
    r = invoke(runner, "wizard", "create", "cmd", "--agent", "command", "--fleet", fleet_path,
               "--command", "my-agent --prompt-file '{prompt_file}' --id {task_id}")
    assert r.exit_code == 0, r.output
    assert load_fleet(fleet_path).wizard("cmd").agent.argv == ("my-agent", "--prompt-file", "{prompt_file}",
                                                               "--id", "{task_id}")
    r = runner.invoke(cli, ["wizard", "create", "cmd2", "--agent", "command", "--fleet", fleet_path])
    assert r.exit_code == 1 and "pass it with --command" in r.stderr
    r = invoke(runner, "wizard", "create", "h", "--fleet", fleet_path, "--context-length", "65536",
               "--hermes-config", "agent.environment_probe=false", "--hermes-config", "agent.max_turns=5")
    w = load_fleet(fleet_path).wizard("h")
    assert w.agent.context_length == 65536
    assert w.agent.config == {"agent": {"environment_probe": False, "max_turns": 5}}
    cfg = yaml.safe_load(Path(w.config_file).read_text())
    assert cfg["agent"] == {"environment_probe": False, "max_turns": 5}
    assert cfg["model"]["context_length"] == 65536
    r = runner.invoke(cli, ["wizard", "create", "h2", "--hermes-config", "novalue", "--fleet", fleet_path])
    assert r.exit_code == 1 and "is not KEY=VALUE" in r.stderr
