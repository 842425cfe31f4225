"""The cache of validated fleet.yaml files: used only while nothing the validation read changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from robe.fleet import cache, config
from robe.fleet.config import FleetError, load_fleet

GOOD = """\
root: houses
default_wizard: ezra
wizards:
  ezra:
    port: 8650
    agent: {kind: command, argv: [my-agent, "{prompt_file}"]}
    relationships: {student: allegro}
  allegro:
    port: 8651
    agent: {kind: echo}
routes:
  - match: {tags: [research], id: ["TASK-1*"]}
    wizard: ezra
services:
  ollama: {check: "http://127.0.0.1:11434/api/tags"}
"""


@pytest.fixture
def fleet_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBE_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "fleet.yaml"
    p.write_text(GOOD)
    return p


def no_parse(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("fleet.yaml was parsed, the cache was not used")

    monkeypatch.setattr(config, "parse_fleet", refuse)


def test_second_load_comes_from_the_cache_and_equals_a_fresh_parse(fleet_file, monkeypatch):
    fresh = load_fleet(str(fleet_file))
    assert os.listdir(os.path.join(cache.cache_dir(), "fleet"))
    no_parse(monkeypatch)
    cached = load_fleet(str(fleet_file))
    assert cached == fresh
    assert cached.wizard("ezra").agent.argv == ("my-agent", "{prompt_file}")
    assert cached.wizard("ezra").relationships == {"student": "allegro"}
    assert cached.routes[0].match == fresh.routes[0].match
    assert type(cached.wizards[0].agent) is config.Agent and type(cached.wizards[1].gateway) is type(None)
    assert cached.wizard("allegro").work_dir == fresh.wizard("allegro").work_dir


def test_an_edited_fleet_is_parsed_again_and_its_errors_still_raise(fleet_file, monkeypatch):
    load_fleet(str(fleet_file))
    fleet_file.write_text(GOOD.replace("port: 8651", "port: 8652"))
    assert load_fleet(str(fleet_file)).wizard("allegro").port == 8652
    fleet_file.write_text(GOOD.replace("port: 8651", "port: 8650"))
    with pytest.raises(FleetError, match="port 8650 is already used"):
        load_fleet(str(fleet_file))


def test_a_symlink_that_makes_two_homes_one_is_seen_though_fleet_yaml_did_not_change(fleet_file):
    f = load_fleet(str(fleet_file))
    ezra, allegro = f.wizard("ezra"), f.wizard("allegro")
    os.makedirs(ezra.home)
    os.makedirs(os.path.dirname(allegro.home))
    os.symlink(ezra.home, allegro.home)
    with pytest.raises(FleetError, match="would share memories"):
        load_fleet(str(fleet_file))


def test_a_cache_file_others_can_write_or_a_damaged_one_is_never_used(fleet_file, monkeypatch):
    load_fleet(str(fleet_file))
    (entry,) = os.listdir(os.path.join(cache.cache_dir(), "fleet"))
    path = os.path.join(cache.cache_dir(), "fleet", entry)
    os.chmod(path, 0o666)
    assert cache.get(str(fleet_file), GOOD) is None
    os.chmod(path, 0o600)
    assert cache.get(str(fleet_file), GOOD) is not None
    with open(path, "r+b") as f:
        f.seek(20)
        f.write(b"\xff" * 40)
    assert cache.get(str(fleet_file), GOOD) is None
    assert load_fleet(str(fleet_file)).names == ["ezra", "allegro"]  # parsed again, cache rewritten
    assert cache.get(str(fleet_file), GOOD) is not None


def test_an_unwritable_cache_folder_only_costs_speed(fleet_file, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("ROBE_CACHE_DIR", str(blocker))
    assert load_fleet(str(fleet_file)).names == ["ezra", "allegro"]
    assert load_fleet(str(fleet_file)).names == ["ezra", "allegro"]


def test_openclaw_work_with_a_cached_fleet_never_imports_yaml(tmp_path):
    (tmp_path / "fleet.yaml").write_text("root: .\nwizards:\n  ezra:\n    port: 8650\n    agent: echo\n")
    (tmp_path / "ezra").mkdir()
    (tmp_path / "ezra" / "WORK-QUEUE.md").write_text("- [ ] TASK-001 P0 PENDING Say hello\n")
    probe = ("import sys\nfrom robe.cli import openclaw_work\n"
             "try:\n    openclaw_work(['--fleet', 'fleet.yaml', '--no-gateway'])\nexcept SystemExit:\n    pass\n"
             "print('yaml' in sys.modules)\n")
    env = dict(os.environ, ROBE_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert "dispatched TASK-001" in runs[0].stdout, runs[0].stderr
    assert runs[0].stdout.strip().endswith("True")  # the first run parsed fleet.yaml
    assert runs[1].stdout.strip() == "False", runs[1].stderr  # the second did not need PyYAML
