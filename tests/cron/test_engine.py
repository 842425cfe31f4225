"""robe run's engine (issue 17) and what it tells a person (issue 16, points 5 and 6): dispatch
and monitor in-process, robe's own writes waking nothing, a burst of results in one write,
one wizard's failure isolated, cancelling, and errors said once."""

import json
import os
import subprocess
import threading
import time

from robe.engine import Engine, Options
from robe.queue import displaced

from .conftest import ROBE, robe_env, statuses, stop, wait_for
from .test_run import append, output, robe_run, task  # noqa: F401  (robe_run is a fixture)


def writes_of(path: str) -> int:
    """How many times robe has written this queue file (its displaced index)."""
    return sum(1 for e in displaced.entries(os.path.realpath(path)) if "wrote" in e)


class Running:
    """An Engine in a thread of this test process."""

    def __init__(self, fleet, **opts):
        self.engine = Engine(fleet, entries=[], options=Options(**opts))
        self.thread = threading.Thread(target=self.engine.run, kwargs={"timeout": 120}, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.engine.executor is None or os.path.exists(self.engine.wizards[0].executor_file), 20,
                 what="the engine to start")
        time.sleep(0.3)  # the observers are up
        return self.engine

    def __exit__(self, *exc):
        self.engine.request_stop()
        self.thread.join(60)
        assert not self.thread.is_alive()


def test_robe_s_own_writes_wake_no_dispatch_and_a_result_is_folded_at_once(ezra_fleet):
    fleet, ezra = ezra_fleet()
    with Running(fleet) as engine:
        time.sleep(0.5)
        before = dict(engine.passes)
        append(ezra.queue, task("TASK-001", "ezra"))
        wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 10, 0.01, "TASK-001")
        time.sleep(1.0)  # any late wake-up would show now
        # one dispatch for the save, one after the monitor folded the result (a slot is free);
        # the two writes robe made (IN_PROGRESS, COMPLETE) asked for nothing
        assert engine.passes["dispatch"] - before["dispatch"] == 2
        assert engine.passes["monitor"] - before["monitor"] == 1
    assert writes_of(ezra.queue) == 2


def test_a_burst_of_results_is_one_write_of_the_queue(make_fleet):
    """200 results waiting in completed/ when robe run starts: one monitor pass, one write."""
    fleet = make_fleet({"ezra": {"max_active": 200}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write("# Queue\n\n" + "".join(task(f"TASK-{i}", "ezra") for i in range(1, 201)))
    from robe.dispatch import dispatch
    from robe.execute import Executor

    assert len(dispatch(fleet, ["ezra"], gateway=False).claims) == 200
    assert len(Executor(list(fleet.wizards)).run(once=True)) == 200
    written = writes_of(ezra.queue)
    with Running(fleet, execute=False) as engine:
        wait_for(lambda: set(statuses(ezra.queue).values()) == {"COMPLETE"}, 20, what="all 200 COMPLETE")
        assert engine.passes["monitor"] == 1
    assert writes_of(ezra.queue) - written == 1


def test_a_wizard_whose_pass_raises_is_logged_and_the_others_go_on(make_fleet, monkeypatch):
    import robe.engine.loop as loop

    real = loop.dispatch

    def dispatch(fleet, names, **kw):
        if "allegro" in names:
            raise RuntimeError("a bug in allegro's dispatch")
        return real(fleet, names, **kw)

    monkeypatch.setattr(loop, "dispatch", dispatch)
    fleet = make_fleet({"ezra": {}, "allegro": {}})
    for w in fleet.wizards:
        with open(w.queue, "w") as f:
            f.write("# Queue\n\n" + task("TASK-001", w.name) + task("TASK-002", w.name))
    allegro = fleet.wizard("allegro")
    with Running(fleet) as engine:
        wait_for(lambda: set(statuses(fleet.wizard("ezra").queue).values()) == {"COMPLETE"}, 20, what="ezra's tasks")
        assert engine.jobs[("allegro", "dispatch")].last_exit == 1
    assert set(statuses(allegro.queue).values()) == {"PENDING"}
    with open(os.path.join(allegro.logs_dir, "run.log")) as f:
        log = f.read()
    assert "dispatch failed inside robe" in log and "RuntimeError: a bug in allegro's dispatch" in log
    assert "Traceback" in log


def slow_agent(tmp_path):
    pidfile = tmp_path / "agent.pid"
    script = tmp_path / "slow.sh"
    script.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nsleep 60\necho done\n")
    script.chmod(0o755)
    return str(script), pidfile


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purpose
        return f.read().split()[2] != "Z"


def running_slow_task(make_fleet, robe_run, tmp_path):
    """robe run with TASK-001's agent (a command sleeping a minute) running."""
    script, pidfile = slow_agent(tmp_path)
    fleet = make_fleet({"ezra": {"agent": {"kind": "command", "argv": [script]}}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write("# Queue\n\n" + task("TASK-001", "ezra"))
    p = robe_run(fleet)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 20, what="the agent to start")
    return fleet, ezra, p, pidfile


def archived_outcome(house_completed: str, tid: str) -> dict:
    with open(os.path.join(house_completed, "archive", f"{tid}.1.json")) as f:
        return json.load(f)


def test_robe_cancel_stops_the_running_agent_within_two_seconds(make_fleet, robe_run, tmp_path):
    fleet, ezra, p, pidfile = running_slow_task(make_fleet, robe_run, tmp_path)
    pid = int(pidfile.read_text())
    t0 = time.monotonic()
    r = subprocess.run([ROBE, "cancel", "TASK-001", "--fleet", fleet.path, "--reason", "wrong repo"],
                       capture_output=True, text=True, env=robe_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    assert "IN_PROGRESS -> BLOCKED" in r.stdout and "ezra's executor stops its agent" in r.stdout
    wait_for(lambda: not alive(pid), 2.0, 0.01, "the agent to be stopped")
    assert time.monotonic() - t0 < 2.0
    wait_for(lambda: os.path.exists(os.path.join(ezra.completed_dir, "archive", "TASK-001.1.json")), 10,
             what="the cancelled attempt archived")
    outcome = archived_outcome(ezra.completed_dir, "TASK-001")
    assert outcome["status"] == "CANCELLED" and outcome["error"] == "wrong repo"
    wait_for(lambda: not os.path.exists(os.path.join(ezra.work_dir, "TASK-001.active")), 10, what="claim released")
    time.sleep(0.5)
    assert statuses(ezra.queue)["TASK-001"] == "BLOCKED"  # the person's word stays
    assert stop(p) == 0


def test_a_person_setting_a_running_task_to_failed_in_the_file_stops_it(make_fleet, robe_run, tmp_path):
    fleet, ezra, p, pidfile = running_slow_task(make_fleet, robe_run, tmp_path)
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "IN_PROGRESS", 5, what="IN_PROGRESS in the file")
    pid = int(pidfile.read_text())
    with open(ezra.queue, encoding="utf-8") as f:
        text = f.read()
    t0 = time.monotonic()
    with open(ezra.queue, "w", encoding="utf-8") as f:  # the person's editor, saving in place
        f.write(text.replace("IN_PROGRESS", "FAILED"))
    wait_for(lambda: not alive(pid), 2.0, 0.01, "the agent to be stopped")
    assert time.monotonic() - t0 < 2.0
    wait_for(lambda: os.path.exists(os.path.join(ezra.completed_dir, "archive", "TASK-001.1.json")), 10,
             what="the cancelled attempt archived")
    assert archived_outcome(ezra.completed_dir, "TASK-001")["status"] == "CANCELLED"
    time.sleep(0.5)
    assert statuses(ezra.queue)["TASK-001"] == "FAILED"
    assert stop(p) == 0
    assert "TASK-001 cancelled" in output(p)


def test_a_queue_error_is_said_once_with_its_line_and_robe_status_shows_it(ezra_fleet, robe_run):
    fleet, ezra = ezra_fleet(task("TASK-001", "ezra"))
    p = robe_run(fleet)
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 20, what="TASK-001")
    append(ezra.queue, "- [ ] TASK-001 PENDING the same ID again\n  Assignee: ezra\n")  # line 5: a duplicate
    for i in range(2, 5):  # more saves and passes: the error is not said again
        time.sleep(0.3)
        append(ezra.queue, task(f"TASK-00{i}", "ezra"))
    wait_for(lambda: statuses(ezra.queue).get("TASK-004") == "COMPLETE", 20, what="TASK-004")
    wait_for(lambda: f"{ezra.queue}:5:" in output(p), 5, what="the error on stderr")
    assert output(p).count(f"{ezra.queue}:5:") == 1
    st = subprocess.run([ROBE, "status", "--fleet", fleet.path], capture_output=True, text=True, env=robe_env(),
                        timeout=60)
    assert f"{ezra.queue}:5:" in st.stdout, st.stdout
    # fixed: robe status no longer shows it
    with open(ezra.queue, encoding="utf-8") as f:
        text = f.read()
    with open(ezra.queue, "w", encoding="utf-8") as f:
        f.write(text.replace("TASK-001 PENDING the same ID again", "TASK-009 PENDING the same ID again"))
    wait_for(lambda: statuses(ezra.queue).get("TASK-009") == "COMPLETE", 20, what="TASK-009")
    st = subprocess.run([ROBE, "status", "--fleet", fleet.path], capture_output=True, text=True, env=robe_env(),
                        timeout=60)
    assert f"{ezra.queue}:5:" not in st.stdout
    assert stop(p) == 0


def test_a_broken_fleet_yaml_is_said_once_and_the_last_good_one_kept(ezra_fleet, robe_run):
    fleet, ezra = ezra_fleet()
    p = robe_run(fleet)
    with open(fleet.path, encoding="utf-8") as f:
        good = f.read()
    with open(fleet.path, "w", encoding="utf-8") as f:
        f.write(good.replace('"wizards"', '"wizzards"'))
    wait_for(lambda: "keeps the last good fleet.yaml" in output(p), 5, what="the fleet.yaml error")
    append(ezra.queue, task("TASK-001", "ezra"))
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 20, what="TASK-001 with the last good fleet")
    assert output(p).count("keeps the last good fleet.yaml") == 1
    with open(fleet.path, "w", encoding="utf-8") as f:
        f.write(good)
    wait_for(lambda: "fleet.yaml reloaded" in output(p), 5, what="the reload")
    assert stop(p) == 0


def test_robe_cancel_refuses_a_finished_task_and_a_bad_id(make_fleet):
    fleet = make_fleet({"ezra": {}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write("# Queue\n\n- [x] TASK-001 COMPLETE done already\n  Assignee: ezra\n")
    r = subprocess.run([ROBE, "cancel", "TASK-001", "--fleet", fleet.path], capture_output=True, text=True,
                       env=robe_env(), timeout=30)
    assert r.returncode == 1 and "only a PENDING or IN_PROGRESS task can be cancelled" in r.stderr
    r = subprocess.run([ROBE, "cancel", "../etc", "--fleet", fleet.path], capture_output=True, text=True,
                       env=robe_env(), timeout=30)
    assert r.returncode != 0 and "is not a task ID" in r.stderr
    assert statuses(ezra.queue)["TASK-001"] == "COMPLETE"
