"""The gateway first: healthy is left alone, down is started, unstartable means nothing claimed, exit 1."""

from __future__ import annotations

import os
import socket
import sys

from click.testing import CliRunner
from .dispatch_helpers import claims_in, events, read, write, write_fleet

from robe.cli import cli
from robe.fleet.config import load_fleet
from robe.fleet.gateway import gateway_status, stop_gateway

QUEUE = "- [ ] TASK-001 P0 PENDING needs the gateway\n"


def free_port() -> int:
    for port in range(20100, 20999):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20100-20999")


def setup(tmp_path, start):
    port = free_port()
    gateway = {"start": start, "health": "http://127.0.0.1:{port}/"}
    path = write_fleet(tmp_path, {"allegro": {"port": port, "gateway": gateway}})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", QUEUE)
    os.makedirs(tmp_path / "allegro" / "home")
    return path, port


def invoke(*args):
    return CliRunner().invoke(cli, ["dispatch", *args], catch_exceptions=False)


def test_a_down_gateway_is_started_then_tasks_are_claimed(tmp_path):
    path, port = setup(tmp_path, [sys.executable, "-m", "http.server", "PORT", "--bind", "127.0.0.1"])
    fleet_text = read(path).replace('"PORT"', str(port))
    with open(path, "w") as f:
        f.write(fleet_text)
    w = load_fleet(path).wizard("allegro")
    try:
        r = invoke("--fleet", path)
        assert r.exit_code == 0, r.stderr
        assert r.stdout == f"allegro: dispatched TASK-001 (P0) attempt 1 from {tmp_path}/allegro/WORK-QUEUE.md:1\n"
        assert "allegro: gateway was down; started it (pid " in r.stderr
        assert gateway_status(w).state == "up"
        (ev, _) = events(tmp_path / "allegro")
        assert (ev["event"], ev["ok"], ev["wizard"]) == ("gateway", True, "allegro")
        # Healthy now: a second run does not start another.
        r = invoke("--fleet", path)
        assert "started it" not in r.stderr
    finally:
        stop_gateway(w)


def test_a_gateway_that_cannot_come_up_means_nothing_claimed_and_exit_1(tmp_path):
    path, _ = setup(tmp_path, [sys.executable, "-c", "import sys; sys.exit(3)"])
    r = invoke("--fleet", path)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith("allegro: gateway is down and could not be started: wizard allegro's gateway exited "
                               "with code 3 before it was healthy;")
    assert r.stderr.rstrip().endswith("; nothing claimed for allegro")
    assert claims_in(tmp_path / "allegro") == []
    assert [(e["event"], e["ok"]) for e in events(tmp_path / "allegro")] == [("gateway", False)]
    assert "PENDING" in read(tmp_path / "allegro" / "WORK-QUEUE.md")
    r = invoke("--fleet", path, "--no-gateway")
    assert (r.exit_code, r.stdout) == (
        0, f"allegro: dispatched TASK-001 (P0) attempt 1 from {tmp_path}/allegro/WORK-QUEUE.md:1\n")


def test_dry_run_only_probes(tmp_path):
    path, port = setup(tmp_path, [sys.executable, "-c", "raise SystemExit('must not run')"])
    r = invoke("--fleet", path, "--dry-run")
    assert r.exit_code == 0
    assert r.stdout == f"allegro: would dispatch TASK-001 (P0) attempt 1 from {tmp_path}/allegro/WORK-QUEUE.md:1\n"
    assert f"allegro: gateway is down (http://127.0.0.1:{port}/:" in r.stderr
    assert not os.path.exists(tmp_path / "allegro" / "logs")
