"""Gateways and robe status with real processes: start, health, Lobster, Dead, stale pid files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robe.cli import cli
from robe.fleet.config import load_fleet
from robe.fleet.gateway import gateway_status, probe, process_start_time, read_pid_file, write_pid_file
from robe.fleet.status import executor_liveness, state_of
from robe.queue.events import stamp

from .conftest import gateway_cmd, wait_for


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def ezra(runner, fleet_path):
    r = invoke(runner, "wizard", "create", "ezra", "--agent", "echo", "--gateway-start", gateway_cmd(),
               "--fleet", fleet_path)
    assert r.exit_code == 0, r.output
    return load_fleet(fleet_path).wizard("ezra")


def status_line(runner, fleet_path) -> list[str]:
    out = invoke(runner, "status", "--fleet", fleet_path).output
    return out.splitlines()[1].split()


def test_gateway_comes_up_lobster_then_dead_when_killed(runner, fleet_path, ezra):
    r = invoke(runner, "gateway", "start", "--wizard", "ezra", "--fleet", fleet_path)
    assert r.exit_code == 0, r.output
    pf = read_pid_file(ezra.pid_file)
    assert r.output == f"ezra: gateway up on port {ezra.port} (pid {pf.pid})\n"
    assert pf.start_time == process_start_time(pf.pid)
    assert pf.argv == (sys.executable, gateway_cmd().split()[-1])
    assert os.getsid(pf.pid) == pf.pid  # its own session: a closed terminal does not take it down
    # The gateway got the wizard's home and answers on the wizard's port, on loopback.
    ok, _ = probe(f"http://127.0.0.1:{ezra.port}/health")
    assert ok
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", ezra.port, timeout=2)
    c.request("GET", "/health")
    assert json.loads(c.getresponse().read())["hermes_home"] == ezra.home
    c.close()
    assert "gateway_server listening" in Path(ezra.gateway_log).read_text()

    assert status_line(runner, fleet_path) == ["ezra", "Lobster", "up", "down", "0", "empty"]
    data = json.loads(invoke(runner, "status", "--json", "--fleet", fleet_path).output)
    assert data[0]["state"] == "Lobster" and data[0]["gateway"]["pid"] == pf.pid

    os.kill(pf.pid, signal.SIGKILL)
    assert wait_for(lambda: process_start_time(pf.pid) is None)
    assert status_line(runner, fleet_path) == ["ezra", "Dead", "down", "down", "0", "empty"]
    r = invoke(runner, "gateway", "status", "--fleet", fleet_path)
    assert r.output.splitlines()[1].split()[:4] == ["ezra", str(ezra.port), "down", "-"]
    assert "the pid file is stale" in r.output


def test_start_twice_is_harmless_and_stop_sends_sigint(runner, fleet_path, ezra):
    invoke(runner, "gateway", "start", "--fleet", fleet_path)
    pid = read_pid_file(ezra.pid_file).pid
    r = invoke(runner, "gateway", "start", "--fleet", fleet_path)
    assert r.output == f"ezra: gateway up on port {ezra.port} (pid {pid})\n"
    r = invoke(runner, "gateway", "stop", "--fleet", fleet_path)
    assert r.output == f"ezra: stopped pid {pid}\n"
    assert process_start_time(pid) is None and not os.path.exists(ezra.pid_file)
    assert "SIGINT, stopping cleanly" in Path(ezra.gateway_log).read_text()
    r = invoke(runner, "gateway", "stop", "--fleet", fleet_path)
    assert r.output == "ezra: not running (no pid file)\n"


def test_stop_falls_back_to_sigkill(runner, fleet_path, tmp_path):
    invoke(runner, "wizard", "create", "stubborn", "--agent", "echo", "--fleet", fleet_path,
           "--gateway-start", gateway_cmd("--ignore-sigint"))
    invoke(runner, "gateway", "start", "--fleet", fleet_path)
    w = load_fleet(fleet_path).wizard("stubborn")
    pid = read_pid_file(w.pid_file).pid
    t = time.monotonic()
    r = invoke(runner, "gateway", "stop", "--timeout", "0.5", "--fleet", fleet_path)
    assert r.output == f"stubborn: killed pid {pid} (it did not stop within 0.5 s of SIGINT)\n"
    assert time.monotonic() - t < 5
    assert process_start_time(pid) is None


def test_stale_pid_file_of_a_live_unrelated_process_is_not_the_gateway(runner, fleet_path, ezra, spawn):
    sleeper = spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    assert wait_for(lambda: process_start_time(sleeper.pid) is not None)
    # The pid file names the live sleeper, but with the start time of a process that died long ago:
    # exactly what a reused pid looks like.
    write_pid_file(ezra.pid_file, sleeper.pid, process_start_time(sleeper.pid) - 1, ["hermes", "gateway", "run"])
    st = gateway_status(ezra)
    assert (st.state, st.pid, st.stale_pid_file) == ("down", None, True)
    assert status_line(runner, fleet_path)[:2] == ["ezra", "Dead"]
    r = invoke(runner, "gateway", "stop", "--fleet", fleet_path)
    assert r.output == "ezra: not running (removed a stale pid file; its process was not touched)\n"
    assert sleeper.poll() is None  # still alive: robe did not signal it
    # And start is not fooled either: it starts a real gateway.
    write_pid_file(ezra.pid_file, sleeper.pid, process_start_time(sleeper.pid) - 1, ["x"])
    r = invoke(runner, "gateway", "start", "--fleet", fleet_path)
    assert r.exit_code == 0 and read_pid_file(ezra.pid_file).pid != sleeper.pid
    assert sleeper.poll() is None


def test_garbage_pid_file_is_stale(fleet_path, ezra):
    os.makedirs(ezra.logs_dir, exist_ok=True)
    with open(ezra.pid_file, "w") as f:
        f.write("12")  # a bare pid from some other tool: no start time, never trusted
    assert gateway_status(ezra).stale_pid_file


def test_start_fails_clearly_when_the_gateway_dies(runner, fleet_path):
    invoke(runner, "wizard", "create", "broken", "--agent", "echo", "--fleet", fleet_path,
           "--gateway-start", f"{sys.executable} -c 'import sys; sys.exit(3)'")
    r = runner.invoke(cli, ["gateway", "start", "--fleet", fleet_path])
    w = load_fleet(fleet_path).wizard("broken")
    assert r.exit_code == 1
    assert r.stderr == (f"Error: wizard broken's gateway exited with code 3 before it was healthy; "
                        f"see {w.gateway_log}\n")
    assert not os.path.exists(w.pid_file)


def test_start_gives_up_at_the_deadline(runner, fleet_path):
    invoke(runner, "wizard", "create", "mute", "--agent", "echo", "--fleet", fleet_path,
           "--gateway-start", f"{sys.executable} -c 'import time; time.sleep(60)'")
    t = time.monotonic()
    r = runner.invoke(cli, ["gateway", "start", "--timeout", "1", "--fleet", fleet_path])
    assert r.exit_code == 1
    assert "was not healthy within 1 s" in r.stderr and "it was stopped" in r.stderr
    assert time.monotonic() - t < 5


def test_start_refuses_a_port_held_by_another_process(runner, fleet_path, ezra, listener):
    listener(ezra.port)
    r = runner.invoke(cli, ["gateway", "start", "--fleet", fleet_path])
    assert r.exit_code == 1
    assert f"port {ezra.port} of wizard ezra is already held by pid {os.getpid()}" in r.stderr


def test_missing_program_is_one_sentence(runner, fleet_path):
    invoke(runner, "wizard", "create", "nohermes", "--fleet", fleet_path, "--gateway-start", "no-such-hermes gateway run")
    r = runner.invoke(cli, ["gateway", "start", "--fleet", fleet_path])
    assert r.exit_code == 1
    assert "'no-such-hermes' was not found; install it or write its full path in gateway.start" in r.stderr


def test_tcp_health_check(runner, fleet_dir, fleet_path):
    invoke(runner, "wizard", "create", "tcpw", "--agent", "echo", "--fleet", fleet_path,
           "--gateway-start", gateway_cmd())
    text = (fleet_dir / "fleet.yaml").read_text().replace(
        "gateway: {start:", "gateway: {health: 'tcp://127.0.0.1:{port}', start:")
    (fleet_dir / "fleet.yaml").write_text(text)
    w = load_fleet(fleet_path).wizard("tcpw")
    assert w.gateway.health == f"tcp://127.0.0.1:{w.port}"
    assert invoke(runner, "gateway", "start", "--fleet", fleet_path).exit_code == 0
    assert gateway_status(w).state == "up"


def write_executor(w, pid, beat_age=0.0, host=None):
    from datetime import datetime, timedelta, timezone

    os.makedirs(w.logs_dir, exist_ok=True)
    now = datetime.now(timezone.utc)
    with open(w.executor_file, "w") as f:
        json.dump({"pid": pid, "host": host or os.uname().nodename, "started_at": stamp(now),
                   "heartbeat_at": stamp(now - timedelta(seconds=beat_age))}, f)


def test_robed_and_unrobed_with_a_heartbeating_executor(runner, fleet_path, ezra, spawn):
    # A small heartbeat process stands in for the executor (a later issue).
    beat = ("import json, os, sys, time, datetime\n"
            "path = sys.argv[1]\n"
            "while True:\n"
            "    now = datetime.datetime.now(datetime.timezone.utc).isoformat()\n"
            "    tmp = path + '.tmp'\n"
            "    json.dump({'pid': os.getpid(), 'host': os.uname().nodename, 'started_at': now,\n"
            "               'heartbeat_at': now}, open(tmp, 'w'))\n"
            "    os.replace(tmp, path)\n"
            "    time.sleep(0.2)\n")
    os.makedirs(ezra.logs_dir, exist_ok=True)
    body = spawn([sys.executable, "-c", beat, ezra.executor_file])
    assert wait_for(lambda: os.path.exists(ezra.executor_file))
    assert wait_for(lambda: executor_liveness(ezra).alive)
    assert status_line(runner, fleet_path)[:4] == ["ezra", "Unrobed", "down", "up"]
    invoke(runner, "gateway", "start", "--fleet", fleet_path)
    assert status_line(runner, fleet_path)[:4] == ["ezra", "Robed", "up", "up"]
    body.kill()
    body.wait()
    assert status_line(runner, fleet_path)[:4] == ["ezra", "Lobster", "up", "down"]


def test_executor_liveness_rules(fleet_path, ezra):
    assert executor_liveness(ezra).detail == "no executor has run"
    write_executor(ezra, os.getpid())
    assert executor_liveness(ezra).alive
    write_executor(ezra, os.getpid(), beat_age=120)
    assert not executor_liveness(ezra).alive and "120 s ago" in executor_liveness(ezra).detail
    write_executor(ezra, os.getpid(), host="elsewhere")
    assert not executor_liveness(ezra).alive
    write_executor(ezra, 2**22 + 12345)  # beyond pid_max's default: no such process
    assert not executor_liveness(ezra).alive


def test_state_table():
    assert state_of(True, True) == "Robed"
    assert state_of(False, True) == "Unrobed"
    assert state_of(True, False) == "Lobster"
    assert state_of(False, False) == "Dead"
    assert state_of(None, True) == "Robed" and state_of(None, False) == "Dead"


def test_status_shows_queue_counts_and_claims(runner, fleet_dir, fleet_path, ezra):
    (fleet_dir / "ezra" / "WORK-QUEUE.md").write_text(
        "# Q\n\n- [ ] TASK-001 P1 PENDING One\n- [ ] TASK-002 P1 IN_PROGRESS Two\n- [x] TASK-003 P1 COMPLETE Three\n")
    from datetime import datetime, timedelta, timezone

    claimed = stamp(datetime.now(timezone.utc) - timedelta(minutes=5))
    (fleet_dir / "ezra" / "work" / "TASK-002.active").write_text(json.dumps(
        {"id": "TASK-002", "attempt": 1, "claimed_at": claimed}))
    out = invoke(runner, "status", "--fleet", fleet_path).output.splitlines()
    assert out[1].split()[:5] == ["ezra", "Dead", "down", "down", "1"]
    assert out[1].endswith("1 pending, 1 in_progress, 1 complete")
    assert out[2] == "  ezra: TASK-002 claimed 5m ago, attempt 1"
    data = json.loads(invoke(runner, "status", "--json", "--fleet", fleet_path).output)
    assert data[0]["counts"] == {"PENDING": 1, "IN_PROGRESS": 1, "COMPLETE": 1}
    assert data[0]["claims"][0]["task"] == "TASK-002" and 290 < data[0]["claims"][0]["age_s"] < 400


def test_gateway_started_by_hand_is_up_but_never_signalled(runner, fleet_path, ezra, spawn):
    env = dict(os.environ, ROBE_PORT=str(ezra.port), HERMES_HOME=ezra.home)
    by_hand = spawn(gateway_cmd().split(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: probe(ezra.gateway.health)[0])
    r = invoke(runner, "gateway", "start", "--fleet", fleet_path)
    assert r.output == f"ezra: gateway up on port {ezra.port} (not started by robe)\n"
    assert not os.path.exists(ezra.pid_file)
    r = invoke(runner, "gateway", "stop", "--fleet", fleet_path)
    assert r.output.startswith(f"ezra: no pid file, but a gateway robe did not start answers on port {ezra.port} "
                               f"(pid {by_hand.pid} (python")
    assert by_hand.poll() is None
    assert status_line(runner, fleet_path)[:3] == ["ezra", "Lobster", "up"]
