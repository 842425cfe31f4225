"""fleet.yaml: loading, defaults, discovery, and one clear sentence for each bad input."""

from __future__ import annotations

import os

import pytest

from robe.cli import cli
from robe.fleet.config import FleetError, load_fleet, parse_fleet

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "fleet.yaml")

GOOD = """\
root: houses
ports: {first: 9000, last: 9010}
default_wizard: ezra
wizards:
  ezra:
    port: 9000
  allegro:
    port: 9001
    agent: {kind: echo}
routes:
  - match: {tags: [research]}
    wizard: ezra
"""


def test_example_fleet_loads_with_the_seeds_three_wizards():
    fleet = load_fleet(EXAMPLE)
    assert fleet.names == ["ezra", "allegro-primus", "allegro"]
    assert [w.port for w in fleet.wizards] == [8643, 8644, 8645]
    ap = fleet.wizard("allegro-primus")
    assert ap.agent.kind == "openai" and ap.agent.model == "qwen2.5:1.5b"
    assert ap.dispatch_floor == "P0" and ap.max_active == 1
    assert ap.queue == fleet.wizard("allegro").queue  # the shared queue
    assert ap.schedule == {"self-monitor": "*/5 * * * *", "dispatch": "*/15 * * * *"}
    assert fleet.routes[0].wizard == "ezra" and fleet.routes[0].match == {"tags": ("research",)}
    assert {s.name for s in fleet.services} == {"ollama", "gitea", "searxng"}


def test_defaults_and_absolute_paths(tmp_path):
    path = tmp_path / "fleet.yaml"
    fleet = parse_fleet(GOOD, str(path))
    ezra = fleet.wizard("ezra")
    assert fleet.path == str(path)
    assert fleet.root == str(tmp_path / "houses")
    assert ezra.house == str(tmp_path / "houses" / "ezra")
    assert ezra.home == str(tmp_path / "houses" / "ezra" / "home")
    assert ezra.queue == str(tmp_path / "houses" / "ezra" / "WORK-QUEUE.md")
    assert ezra.agent.kind == "hermes"
    assert ezra.gateway.start == ("hermes", "gateway", "run")
    assert ezra.gateway.health == "http://127.0.0.1:9000/health"
    assert (ezra.max_active, ezra.max_parallel, ezra.dispatch_floor) == (1, 1, "P3")
    assert (ezra.timeout, ezra.lease, ezra.max_attempts) == (1800, 600, 3)
    assert fleet.wizard("allegro").gateway is None  # an echo agent has no gateway unless configured
    assert fleet.default_priority == "P2" and fleet.ports == (9000, 9010)
    with pytest.raises(FleetError, match="no wizard named 'ezr'.*did you mean 'ezra'"):
        fleet.wizard("ezr")


def test_default_port_range(tmp_path):
    fleet = parse_fleet("wizards:\n  a:\n    port: 8650\n", str(tmp_path / "fleet.yaml"))
    assert fleet.ports == (8643, 8699)


def _err(text: str, tmp_path) -> str:
    with pytest.raises(FleetError) as e:
        parse_fleet(text, str(tmp_path / "fleet.yaml"))
    return str(e.value)


@pytest.mark.parametrize("text, line, words", [
    ("wizards:\n  ezra:\n    port: 80\n", 3, "wizards.ezra.port: port 80 is below 1024"),
    ("wizards:\n  ezra:\n    port: 70000\n", 3, "wizards.ezra.port: port 70000 is not a TCP port"),
    ("ports: {first: 9000, last: 9005}\nwizards:\n  ezra:\n    port: 9100\n", 4,
     "port 9100 is outside the fleet's range 9000-9005"),
    ("wizards:\n  ezra:\n    port: 8643\n  ezra:\n    port: 8644\n", 4, "wizards.ezra: written twice (first on line 2)"),
    ("wizards:\n  ezra:\n    port: 8643\n  allegro:\n    port: 8643\n", 5,
     "wizards.allegro.port: port 8643 is already used by wizard ezra (line 2)"),
    ("wizards:\n  ezra:\n    port: 8643\nroutes:\n  - match: {tags: [x]}\n    wizard: ezar\n", 6,
     "routes[0].wizard: there is no wizard named 'ezar' (did you mean 'ezra'?)"),
    ("wizards:\n  ezra:\n    port: 8643\n    prot: 1\n", 4, "wizards.ezra.prot: unknown key (did you mean 'port'?)"),
    ("wizard:\n  ezra:\n    port: 8643\n", 1, "wizard: unknown key (did you mean 'wizards'?)"),
    ("wizards:\n  ezra:\n    port: high\n", 3, "expected a whole number, found 'high'"),
    ("wizards:\n  Ezra:\n    port: 8643\n", 2, "lower-case letters, digits and dashes"),
    ("wizards:\n  ezra:\n    port: 8643\n    agent: {kind: gpt}\n", 4, "'gpt' is not an agent kind"),
    ("wizards:\n  ezra:\n    port: 8643\nroutes:\n  - match: {colour: red}\n    wizard: ezra\n", 5,
     "routes[0].match.colour: unknown key"),
    ("wizards:\n  ezra:\n    port: 8643\n    dispatch_floor: P7\n", 4, "'P7' is not a priority"),
    ("default_wizard: zed\nwizards:\n  ezra:\n    port: 8643\n", 1, "there is no wizard named 'zed'"),
    ("wizards:\n  ezra:\n    port: 8643\n    agent: {kind: openai, model: m}\n", 4, "an openai agent needs base_url"),
    ("wizards:\n  ezra: [8643]\n", 2, "expected the wizard's settings, found a list"),
])
def test_bad_input_names_file_line_key_and_fix(tmp_path, text, line, words):
    msg = _err(text, tmp_path)
    assert msg.startswith(f"{tmp_path / 'fleet.yaml'}:{line}: "), msg
    assert words in msg
    assert ";" in msg and "\n" not in msg  # what is wrong; what to do - one sentence


def test_not_yaml(tmp_path):
    msg = _err("wizards:\n  ezra:\n    port: [8643\n  x: {\n", tmp_path)
    assert msg.startswith(f"{tmp_path / 'fleet.yaml'}:")
    assert "not valid YAML" in msg


def test_empty_file(tmp_path):
    for text in ("", "# only a comment\n", "\n\n"):
        assert _err(text, tmp_path) == (f"{tmp_path / 'fleet.yaml'}:1: the file is empty; describe the fleet in it "
                                        "(run 'robe init' for a starting point, or copy examples/fleet.yaml)")


def test_top_level_not_a_mapping(tmp_path):
    assert "not a mapping" in _err("- a\n- b\n", tmp_path)


def test_two_wizards_with_the_same_home(tmp_path):
    msg = _err("wizards:\n  a:\n    port: 8643\n    home: shared\n  b:\n    port: 8644\n    home: shared\n", tmp_path)
    assert msg.startswith(f"{tmp_path / 'fleet.yaml'}:7: wizards.b.home: the home {tmp_path / 'shared'} is the same "
                          "folder as the home of wizard a (line 2)")
    assert "give each wizard its own home folder" in msg


def test_home_inside_another_home(tmp_path):
    msg = _err("wizards:\n  a:\n    port: 8643\n    home: h\n  b:\n    port: 8644\n    home: h/b\n", tmp_path)
    assert "wizards.b.home" in msg and "inside the home of wizard a" in msg


def test_same_home_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    msg = _err("wizards:\n  a:\n    port: 8643\n    home: real\n  b:\n    port: 8644\n    home: link\n", tmp_path)
    assert "the same folder as the home of wizard a" in msg


def test_doctor_mode_collects_faults_between_wizards(tmp_path):
    problems = []
    fleet = parse_fleet("wizards:\n  a:\n    port: 8643\n  b:\n    port: 8643\n", str(tmp_path / "f.yaml"), problems)
    assert fleet.names == ["a", "b"]
    assert [p.key for p in problems] == ["wizards.b.port"]


# -- discovery


def test_found_upward_from_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    (tmp_path / "fleet.yaml").write_text(GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert load_fleet(cwd=str(deep)).path == str(tmp_path / "fleet.yaml")


def test_found_by_env_then_option(tmp_path, monkeypatch):
    (tmp_path / "one.yaml").write_text(GOOD)
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "fleet.yaml").write_text(GOOD)
    monkeypatch.setenv("ROBE_FLEET", str(tmp_path / "one.yaml"))
    assert load_fleet(cwd="/").path == str(tmp_path / "one.yaml")
    assert load_fleet(str(tmp_path / "two"), cwd="/").path == str(tmp_path / "two" / "fleet.yaml")


def test_not_found_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    with pytest.raises(FleetError, match="no fleet.yaml in .* or any folder above it; run 'robe init'"):
        load_fleet(cwd=str(tmp_path))
    with pytest.raises(FleetError, match="does not exist; create a fleet with 'robe init'"):
        load_fleet(str(tmp_path / "nope.yaml"))


def test_binary_and_non_utf8(tmp_path):
    (tmp_path / "f.yaml").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(FleetError, match="not UTF-8|binary"):
        load_fleet(str(tmp_path / "f.yaml"))


# -- the CLI: one sentence on stderr, exit 1, nothing written


@pytest.mark.parametrize("text, line", [
    ("wizards: [unclosed\n", 2),
    ("", 1),
    ("wizards:\n  ezra:\n    port: 8643\n  ezra:\n    port: 8644\n", 4),
    ("wizards:\n  ezra:\n    port: 80\n", 3),
    ("wizards:\n  ezra:\n    port: 70000\n", 3),
])
def test_cli_bad_fleet_exit_1_and_nothing_written(tmp_path, runner, text, line):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    before = sorted(os.listdir(tmp_path))
    for args in (["wizard", "create", "newbie"], ["wizard", "list"], ["status"], ["init"]):
        r = runner.invoke(cli, args + ["--fleet", str(path)])
        assert r.exit_code == 1, (args, r.output)
        err = r.stderr if hasattr(r, "stderr") else r.output
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"Error: {path}:{line}: "), err
    assert sorted(os.listdir(tmp_path)) == before
    assert path.read_text() == text


def test_a_fleet_file_with_a_byte_order_mark_loads(tmp_path):
    from robe.fleet.config import load_fleet

    (tmp_path / "fleet.yaml").write_bytes(b"\xef\xbb\xbfroot: .\nwizards:\n  ezra:\n    port: 8650\n")
    fleet = load_fleet(str(tmp_path / "fleet.yaml"))
    assert [w.name for w in fleet.wizards] == ["ezra"]
