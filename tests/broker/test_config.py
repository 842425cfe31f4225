"""fleet.yaml's broker:, hub:, host: and each wizard's host:, as robe reads and refuses them."""

from __future__ import annotations

import pytest

from robe.broker.client import password_for
from robe.fleet.model import FleetError
from robe.fleet.validate import parse_fleet

BASE = "root: .\nwizards:\n  ada:\n    port: 8650\n    agent: echo\n"


def parsed(text: str, tmp_path):
    return parse_fleet(text, str(tmp_path / "fleet.yaml"))


def refusal(text: str, tmp_path) -> str:
    with pytest.raises(FleetError) as e:
        parsed(text, tmp_path)
    return str(e.value)


def test_without_a_broker_everything_runs_here(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBE_HOST", "box")
    f = parsed(BASE, tmp_path)
    assert (f.broker, f.hub, f.host) == (None, "box", "box")
    assert f.runs_here(f.wizards[0]) and not f.via_broker(f.wizards[0])


def test_a_wizard_on_another_machine(tmp_path):
    f = parsed("broker: redis://10.0.0.5:6379/2\nhost: vps\n" + BASE + "    host: gpu-box\n", tmp_path)
    assert (f.broker, f.hub, f.host) == ("redis://10.0.0.5:6379/2", "vps", "vps")
    w = f.wizards[0]
    assert w.host == "gpu-box" and f.via_broker(w) and not f.runs_here(w)


def test_a_password_in_fleet_yaml_is_refused(tmp_path):
    said = refusal("broker: redis://:s3cret@10.0.0.5:6379/0\n" + BASE, tmp_path)
    assert "fleet.yaml:1: broker: holds a password, and fleet.yaml is no place for one" in said
    assert "ROBE_BROKER_PASSWORD" in said and "s3cret" not in said


@pytest.mark.parametrize("url, says", [
    ("http://10.0.0.5:6379/0", "is not a redis:// or rediss:// URL with a host"),
    ("redis://10.0.0.5:6379/zero", "the database 'zero' is not a number"),
    ("redis://10.0.0.5:6379/0?timeout=1", "has options after '?'"),
])
def test_a_bad_broker_url_says_why(tmp_path, url, says):
    assert says in refusal(f"broker: {url}\n" + BASE, tmp_path)


def test_a_wizard_elsewhere_needs_a_broker(tmp_path):
    said = refusal(BASE + "    host: gpu-box\n", tmp_path)
    assert "wizards.ada.host: runs on machine 'gpu-box', but the fleet has no broker" in said


def test_a_bad_machine_name(tmp_path):
    assert "'gpu box' is not a machine's name" in refusal("broker: redis://h:1/0\n" + BASE + "    host: gpu box\n",
                                                          tmp_path)


def test_the_password_comes_from_the_environment_or_the_fleets_env(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_BROKER_PASSWORD", raising=False)
    assert password_for(str(tmp_path)) is None
    (tmp_path / ".env").write_text("OTHER=1\nexport ROBE_BROKER_PASSWORD='from file'\n")
    assert password_for(str(tmp_path)) == "from file"
    monkeypatch.setenv("ROBE_BROKER_PASSWORD", "from env")
    assert password_for(str(tmp_path)) == "from env"
