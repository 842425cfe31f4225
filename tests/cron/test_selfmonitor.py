"""robe self-monitor: restarts a killed gateway and a killed executor, checks shared services,
records uptime samples, exits 1 when something stayed down."""

import json
import os
import signal
import subprocess
import sys

import pytest

from robe.fleet.gateway import gateway_process, probe
from robe.fleet.status import executor_liveness

from .conftest import HERE, ROBE, free_port, robe_env, wait_for

GATEWAY = [sys.executable, os.path.join(HERE, "gateway.py")]


def self_monitor(fleet, *args):
    return subprocess.run([ROBE, "self-monitor", "--fleet", fleet.path, "--wait", "15", *args], capture_output=True,
                          text=True, env=robe_env(), timeout=120)


def samples(w):
    with open(os.path.join(w.logs_dir, "uptime.jsonl")) as f:
        return [json.loads(l) for l in f]


def kill_group(pid):
    """Kill ``pid`` and its process group. A service revived through 'sh -c "... &"' is not a
    group leader (its group is the shell's), so the group is looked up, never assumed."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != os.getpgid(0):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def cleanup():
    """Process groups to kill after the test (pids), and Popen objects to kill and reap."""
    pids = []
    yield pids
    for p in pids:
        if isinstance(p, subprocess.Popen):
            p.kill()
            p.wait(10)
        else:
            kill_group(p)


def executor_pid(w):
    with open(w.executor_file) as f:
        return json.load(f)["pid"]


def test_restarts_a_killed_gateway_and_a_killed_executor(make_fleet, cleanup):
    fleet = make_fleet({"ezra": {"gateway": {"start": GATEWAY, "health": "http://127.0.0.1:{port}/health"}}})
    ezra = fleet.wizard("ezra")

    # first pass: nothing runs yet; both are started
    r = self_monitor(fleet)
    assert r.returncode == 0, r.stdout + r.stderr
    cleanup.append(gateway_process(ezra).pid)
    assert probe(ezra.gateway.health)[0]
    wait_for(lambda: executor_liveness(ezra).alive, 15, what="the executor")
    cleanup.append(executor_pid(ezra))
    assert r.stdout.startswith("wizard ezra: restarted: gateway down"), r.stdout
    first = samples(ezra)
    assert [(s["wizard"], s["service"], s["up"]) for s in first] == [("ezra", None, False)]
    assert "gateway restarted" in first[0]["detail"] and "executor restarted" in first[0]["detail"]

    # all up: a sample that says so, nothing restarted
    r = self_monitor(fleet)
    assert r.returncode == 0 and r.stdout.startswith("wizard ezra: up: gateway up; executor up"), r.stdout
    assert samples(ezra)[-1]["up"] is True

    # kill both
    gpid = gateway_process(ezra).pid
    kill_group(gpid)
    epid = executor_pid(ezra)
    os.kill(epid, signal.SIGKILL)
    wait_for(lambda: not probe(ezra.gateway.health)[0], 10, what="the gateway to die")
    r = self_monitor(fleet)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gateway restarted" in r.stdout and "executor restarted" in r.stdout
    assert probe(ezra.gateway.health)[0]
    assert gateway_process(ezra).pid != gpid
    new_epid = executor_pid(ezra)
    cleanup.extend([gateway_process(ezra).pid, new_epid])
    assert new_epid != epid and executor_liveness(ezra).alive
    # the restarted executor is detached: its own session, not a child of self-monitor
    assert os.getsid(new_epid) == new_epid
    assert [s["up"] for s in samples(ezra)] == [False, True, False]


def test_services_are_checked_restarted_and_sampled(make_fleet, cleanup, tmp_path):
    up_port, down_port, revive_port = free_port(), free_port(), free_port()
    up = subprocess.Popen(GATEWAY + [str(up_port)], start_new_session=True)
    cleanup.append(up)
    pidfile = tmp_path / "revived.pid"
    revive = ["sh", "-c", f"{' '.join(GATEWAY)} {revive_port} >/dev/null 2>&1 & echo $! > {pidfile}"]
    fleet = make_fleet({"ezra": {}}, services={
        "ollama": {"check": f"http://127.0.0.1:{up_port}/api/tags"},
        "gitea": {"check": f"http://127.0.0.1:{revive_port}/", "restart": revive},
        "searxng": {"check": f"tcp://127.0.0.1:{down_port}", "restart": ["true"]},
    })
    ezra = fleet.wizard("ezra")
    wait_for(lambda: probe(f"http://127.0.0.1:{up_port}/")[0], 10, what="the stand-in service")
    try:
        r = self_monitor(fleet, "--wait", "3")
    finally:
        if pidfile.exists():
            cleanup.append(int(pidfile.read_text()))
    ex = executor_pid(ezra)
    cleanup.append(ex)
    assert r.returncode == 1, r.stdout  # searxng stayed down
    lines = r.stdout.splitlines()
    assert lines[0].startswith("service ollama: up: ")
    assert lines[1].startswith("service gitea: restarted: ") and "up after restart" in lines[1]
    assert lines[2].startswith("service searxng: DOWN: ") and "still down after restart" in lines[2]
    got = {(s["wizard"], s["service"]): s["up"] for s in samples(ezra)}
    assert got == {(None, "ollama"): True, (None, "gitea"): False, (None, "searxng"): False, ("ezra", None): False}


def test_no_restart_only_records(make_fleet):
    fleet = make_fleet({"ezra": {}})
    ezra = fleet.wizard("ezra")
    r = self_monitor(fleet, "--no-restart", "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data[0]["wizard"] == "ezra" and data[0]["up"] is False and data[0]["restarted"] is False
    assert not os.path.exists(ezra.executor_file)
    assert samples(ezra)[0]["up"] is False


def test_under_robe_run_it_leaves_the_executors_to_robe_run(make_fleet, cleanup):
    """robe run starts self-monitor with ROBE_RUN=<its pid>: while that process lives, an
    executor found down (robe run stopping, or between two of its beats) is not started as a
    detached robe execute that would outlive robe run."""
    fleet = make_fleet({"ezra": {}})
    ezra = fleet.wizard("ezra")
    alive = subprocess.Popen(["sleep", "60"])  # stands for the robe run that started the job
    try:
        r = subprocess.run([ROBE, "self-monitor", "--fleet", fleet.path, "--json"], capture_output=True, text=True,
                           env=robe_env(ROBE_RUN=str(alive.pid)), timeout=120)
    finally:
        alive.kill()
        alive.wait()
    data = json.loads(r.stdout)
    assert data[0]["restarted"] is False and "left to robe run" in data[0]["detail"]
    assert not os.path.exists(ezra.executor_file)
    # once that robe run is gone, a self-monitor restarts the executor as before
    r = subprocess.run([ROBE, "self-monitor", "--fleet", fleet.path, "--json", "--wait", "15"], capture_output=True,
                       text=True, env=robe_env(ROBE_RUN=str(alive.pid)), timeout=120)
    if os.path.exists(ezra.executor_file):
        cleanup.append(executor_pid(ezra))
    assert json.loads(r.stdout)[0]["restarted"] is True
