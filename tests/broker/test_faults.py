"""The broker down at dispatch, at monitor and while an executor runs; robe doctor and robe
status on a fleet with a broker. Real processes: redis-server stopped and started again on its
append-only file, `robe` commands as a user runs them."""

from __future__ import annotations

import os
import subprocess
import time

from robe.dispatch import dispatch
from robe.house import House
from robe.queue import load

from ..support import bin_path
from .conftest import hub_doc, write_fleet
from .test_flow import QUEUE, join, make_pair, run_host

ROBE = bin_path("robe")


def robe(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([ROBE, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def statuses(w) -> dict:
    return {t.id: t.status.value for t in load(w.queue).tasks}


def test_broker_down_at_dispatch_claims_nothing_and_exits_1(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    redis_server.stop()
    r = robe("dispatch", "--fleet", hub.path, "--no-gateway")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert f"the broker at {redis_server.url} is unreachable" in r.stderr
    assert "nothing claimed for ada" in r.stderr and "is redis-server running there?" in r.stderr
    w = hub.wizards[0]
    assert statuses(w) == {"TASK-1": "PENDING", "TASK-2": "PENDING"}
    assert House(w.house, "ada").claim_ids() == []


def test_the_hubs_own_wizards_are_dispatched_while_the_broker_is_down(tmp_path, redis_server):
    hub = write_fleet(tmp_path / "hub", hub_doc(redis_server.url, {"ada": {"host": "gpu"}, "bob": {}}))
    for w in hub.wizards:
        with open(w.queue, "w") as f:
            f.write(QUEUE)
    redis_server.stop()
    r = robe("dispatch", "--fleet", hub.path, "--no-gateway")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert [statuses(w)["TASK-1"] for w in hub.wizards] == ["PENDING", "IN_PROGRESS"]


def test_broker_down_at_monitor_says_so_and_the_next_run_folds(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    assert dispatch(hub, gateway=False).exit_code == 0
    run_host(join(tmp_path, redis_server))
    redis_server.stop()
    r = robe("monitor", "--fleet", hub.path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "results from other machines are not folded this run" in r.stderr
    assert statuses(hub.wizards[0])["TASK-1"] == "IN_PROGRESS"
    redis_server.start()  # the same append-only file: the result waited on the broker
    r = robe("monitor", "--fleet", hub.path)
    assert r.returncode == 0, r.stderr
    assert statuses(hub.wizards[0])["TASK-1"] == "COMPLETE"


def test_an_executor_rides_out_a_broker_restart(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server, lease=30)
    assert dispatch(hub, gateway=False).exit_code == 0
    host = join(tmp_path, redis_server)
    log = open(tmp_path / "executor.log", "w")
    proc = subprocess.Popen([ROBE, "execute", "--fleet", host.path, "--scan-interval", "0.2"], stdout=log,
                            stderr=subprocess.STDOUT, env=dict(os.environ, ROBE_HOST="gpu"))
    try:
        _monitor_until(hub, "TASK-1", "COMPLETE")
        redis_server.stop()
        time.sleep(2.5)  # the relay's retries, with a growing pause, while the broker is down
        redis_server.start()
        assert dispatch(hub, gateway=False).exit_code == 0
        _monitor_until(hub, "TASK-2", "COMPLETE")
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    text = (tmp_path / "executor.log").read_text()
    assert "Traceback" not in text
    assert text.count("is unreachable") == 1, text  # said once, not once per retry
    assert "is back" in text


def _monitor_until(hub, tid: str, status: str, timeout: float = 30.0) -> None:
    from robe.monitor import monitor
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        monitor(hub)
        if statuses(hub.wizards[0])[tid] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{tid} is {statuses(hub.wizards[0])[tid]}, not {status}, after {timeout} s")


def test_doctor_checks_the_broker(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    r = robe("doctor", "--fleet", hub.path)
    assert f"OK    fleet: broker: {redis_server.url} answers (redis " in r.stdout, r.stdout
    assert "OK    fleet: broker: persistence is on (AOF)" in r.stdout
    redis_server.client().config_set("appendonly", "no")
    r = robe("doctor", "--fleet", hub.path)
    assert r.returncode == 1
    assert "FAIL  fleet: broker: persistence is off" in r.stdout
    redis_server.stop()
    r = robe("doctor", "--fleet", hub.path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"FAIL  fleet: broker: the broker at {redis_server.url} is unreachable" in r.stdout


def test_status_shows_each_hosts_executors(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    assert dispatch(hub, gateway=False).exit_code == 0
    r = robe("status", "--fleet", hub.path)
    assert "No executor has reported to the broker; run 'robe execute' on gpu." in r.stdout
    relay, _ = run_host(join(tmp_path, redis_server))
    relay.record()
    r = robe("status", "--fleet", hub.path)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("gpu "))
    assert f" {os.getpid()} " in line and " up " in line and line.rstrip().endswith("ada")
    ada = next(x for x in r.stdout.splitlines() if x.startswith("ada "))
    assert " up " in ada  # its executor is the one on gpu
    relay.stop()
    r = robe("status", "--fleet", hub.path)
    assert "No executor has reported" in r.stdout  # the executor's record left with it
