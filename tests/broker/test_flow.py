"""One task's way through the broker: claimed on the hub, run on another machine, folded on the hub."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from robe.broker import Relay, broker_for, relay_for, this_machine_wizards
from robe.cli import cli as main
from robe.dispatch import dispatch
from robe.execute import Executor, Options
from robe.fleet.config import load_fleet
from robe.monitor import monitor
from robe.queue import load

from ..support import read
from .conftest import hub_doc, write_fleet

QUEUE = """# Work

- [ ] TASK-1 P1 PENDING Write the digest
- [ ] TASK-2 P1 PENDING Rotate the logs
"""


def make_pair(tmp_path, redis_server, **settings):
    hub = write_fleet(tmp_path / "hub", hub_doc(redis_server.url, {"ada": dict({"host": "gpu"}, **settings)}))
    with open(hub.wizards[0].queue, "w") as f:
        f.write(QUEUE)
    return hub


def join(tmp_path, redis_server, name="gpu"):
    folder = str(tmp_path / name)
    result = CliRunner().invoke(main, ["init", "--join", redis_server.url, "--host", name, "--no-mcp", folder],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return load_fleet(os.path.join(folder, "fleet.yaml"))


def run_host(fleet):
    wizards = this_machine_wizards(fleet)
    relay = relay_for(fleet, wizards)
    relay.prepare_local()
    relay.once()
    outcomes = Executor(wizards, Options(watch=False)).run(once=True)
    relay.finish_results()
    return relay, outcomes


def test_a_task_runs_on_another_machine_and_is_folded_on_the_hub(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    rep = dispatch(hub, gateway=False)
    assert rep.exit_code == 0
    assert [c.id for c in rep.claims] == ["TASK-1"]
    assert load(hub.wizards[0].queue).get("TASK-1").status.value == "IN_PROGRESS"

    host = join(tmp_path, redis_server)
    assert host.host == "gpu" and host.hub == "hub" and host.broker == redis_server.url
    w = host.wizards[0]
    assert w.house.startswith(str(tmp_path / "gpu")) and os.path.isdir(w.house)
    assert oct(os.stat(w.house).st_mode & 0o777) == "0o700"

    relay, outcomes = run_host(host)
    assert [o["id"] for o in outcomes] == ["TASK-1"]
    assert relay.stats["finished"] == 1
    # The host keeps nothing in flight: its claim and result are in its local archives.
    assert os.listdir(os.path.join(w.house, "work", "archive")) == ["TASK-1.1.active"]

    rep = monitor(hub)
    assert rep.exit_code == 0, rep.errors
    hw = hub.wizards[0]
    assert load(hw.queue).get("TASK-1").status.value == "COMPLETE"
    with open(os.path.join(hw.house, "completed", "archive", "TASK-1.1.txt")) as f:
        assert "TASK-1" in f.read()
    with open(os.path.join(hw.house, "completed", "archive", "TASK-1.1.json")) as f:
        meta = json.load(f)
    assert meta["status"] == "COMPLETE" and meta["host"] == "gpu" and meta["attempt"] == 1

    # Nothing is left on the broker: streams empty, idempotence key forgotten.
    r = redis_server.client()
    assert r.xlen("robe:tasks:ada") == 0 and r.xlen("robe:results:ada") == 0
    assert r.hgetall("robe:published") == {}


def test_the_hub_runs_its_own_wizards_through_the_house_files(tmp_path, redis_server):
    hub = write_fleet(tmp_path / "hub", hub_doc(redis_server.url, {"ada": {"host": "gpu"}, "bob": {}}))
    assert [hub.via_broker(w) for w in hub.wizards] == [True, False]
    assert [w.name for w in this_machine_wizards(hub)] == ["bob"]
    assert relay_for(hub, this_machine_wizards(hub)) is None


def test_a_redelivered_result_changes_nothing(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    dispatch(hub, gateway=False)
    host = join(tmp_path, redis_server)
    run_host(host)
    r = redis_server.client()
    (rid, fields), = r.xrange("robe:results:ada")
    monitor(hub)
    hw = hub.wizards[0]
    before = sorted(os.listdir(os.path.join(hw.house, "completed", "archive")))
    events = read(os.path.join(hw.house, "logs", "events.jsonl"))
    r.xadd("robe:results:ada", fields)  # the same record again, as a redelivery would bring it
    rep = monitor(hub)
    assert rep.exit_code == 0 and rep.transitions == []
    assert sorted(os.listdir(os.path.join(hw.house, "completed", "archive"))) == before
    assert read(os.path.join(hw.house, "logs", "events.jsonl")) == events
    assert load(hw.queue).get("TASK-1").status.value == "COMPLETE"


def test_a_claim_published_twice_is_delivered_once(tmp_path, redis_server):
    hub = make_pair(tmp_path, redis_server)
    dispatch(hub, gateway=False)
    # A dispatcher that died after its claim and before the mark: the next run repairs the
    # markdown and publishes again, which the idempotence key turns into nothing.
    from robe.broker import publish_claims
    from robe.house import House
    hw = hub.wizards[0]
    rec = House(hw.house, "ada").claim_record("TASK-1")
    got = publish_claims(broker_for(hub), [("ada", rec, 3)])
    assert got[0][1] is False
    dispatch(hub, gateway=False)
    assert redis_server.client().xlen("robe:tasks:ada") == 1


def test_a_long_running_hub_and_host_wake_on_each_other(tmp_path, redis_server):
    """What robe run does on each side: start_relay beside the executor on the host,
    watch_results on the hub, which calls back as soon as a result waits."""
    import threading

    from robe.broker import start_relay, watch_results

    hub = make_pair(tmp_path, redis_server)
    woken = threading.Event()
    watch = watch_results(hub, woken.set)
    assert watch is not None
    dispatch(hub, gateway=False)
    host = join(tmp_path, redis_server)
    assert watch_results(host, woken.set) is None  # not the hub
    wizards = this_machine_wizards(host)
    relay = start_relay(host, wizards)
    executor = Executor(wizards, Options(scan_interval=0.2))
    runner = threading.Thread(target=executor.run)
    runner.start()
    try:
        assert woken.wait(20), "the hub was not woken by the host's result"
    finally:
        executor.request_stop()
        runner.join(20)
        relay.stop()
        watch.stop()
    assert monitor(hub).exit_code == 0
    assert load(hub.wizards[0].queue).get("TASK-1").status.value == "COMPLETE"


def test_robe_run_on_the_hub_and_on_a_host_carries_a_saved_task_through(tmp_path, redis_server):
    """Two real robe runs: the hub's dispatches and folds, the host's runs its wizard's agent
    (its relay beside its executor); a task saved on the hub ends COMPLETE there."""
    import subprocess
    import sys
    import time

    from ..cron.conftest import robe_env, stop, wait_for

    hub = make_pair(tmp_path, redis_server)
    dispatch(hub, gateway=False)  # publishes the fleet for the join, and claims TASK-1
    host = join(tmp_path, redis_server)
    robe = os.path.join(os.path.dirname(sys.executable), "robe")
    procs = []
    for f in (hub, host):
        with open(tmp_path / f"{f.host}.err", "wb") as err:
            procs.append(subprocess.Popen([robe, "run", "--fleet", f.path, "-q"], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=err, env=robe_env(), cwd=str(tmp_path)))
    try:
        hq = hub.wizards[0].queue
        wait_for(lambda: load(hq).get("TASK-1").status.value == "COMPLETE", 30, what="TASK-1 through the broker")
        t0 = time.monotonic()
        with open(hq, "a") as f:
            f.write("- [ ] TASK-3 P1 PENDING Saved while both run\n")
        wait_for(lambda: load(hq).get("TASK-3") is not None and load(hq).get("TASK-3").status.value == "COMPLETE",
                 30, what="TASK-3 through the broker")
        assert time.monotonic() - t0 < 15
        # the host dispatched and folded nothing: robe never wrote a queue file there
        assert not os.path.exists(os.path.join(host.wizards[0].house, "logs", "displaced"))
    finally:
        codes = [stop(p) for p in procs]
    assert codes == [0, 0], [open(tmp_path / f"{n}.err").read()[-2000:] for n in ("hub", "gpu")]
