"""robe run as a real process: the executors and the schedule in one foreground process that
reacts to a saved WORK-QUEUE.md at once, survives a broken wizard and a deleted work/."""

import fcntl
import json
import os
import signal
import subprocess
import time

import pytest

from .conftest import ROBE, robe_env, statuses, stop, wait_for


@pytest.fixture
def robe_run(tmp_path):
    procs = []

    def start(fleet, *args):
        err = open(tmp_path / f"run-{len(procs)}.err", "wb")
        p = subprocess.Popen([ROBE, "run", "--fleet", fleet.path, "-v", *args], stdin=subprocess.DEVNULL,
                             stdout=err, stderr=err, env=robe_env(), cwd=str(tmp_path))
        err.close()
        p.err_path = str(tmp_path / f"run-{len(procs)}.err")
        procs.append(p)
        for w in fleet.wizards:
            wait_for(lambda: os.path.exists(w.executor_file), 20, what=f"the executor of {w.name} to start")
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def output(p) -> str:
    with open(p.err_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def append(path: str, text: str, *, replace: bool = False) -> None:
    """As a person's editor saves: appending in place, or writing a new file and renaming it."""
    if replace:
        with open(path, encoding="utf-8") as f:
            old = f.read()
        tmp = path + ".swp~"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(old + text)
        os.replace(tmp, path)
    else:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def task(tid: str, who: str, title: str = "Say hello") -> str:
    return f"- [ ] {tid} PENDING {title}\n  Assignee: {who}\n"


def test_run_end_to_end_with_the_echo_agent(make_fleet, robe_run):
    fleet = make_fleet({"ezra": {}, "allegro": {}})
    ezra, allegro = fleet.wizard("ezra"), fleet.wizard("allegro")
    for w in (ezra, allegro):
        with open(w.queue, "w") as f:
            f.write("# Queue\n\n")
    p = robe_run(fleet)
    t0 = time.monotonic()
    append(ezra.queue, task("TASK-001", "ezra"))
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] != "PENDING", 5, 0.02, "TASK-001 to be dispatched")
    dispatched = time.monotonic() - t0
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 10, 0.02, "TASK-001 to be COMPLETE")
    assert dispatched < 3.0, f"dispatched {dispatched:.2f} s after the save, not at once (cron would wait minutes)"

    append(allegro.queue, task("TASK-001", "allegro") + task("TASK-002", "allegro"), replace=True)
    append(ezra.queue, task("TASK-002", "ezra"), replace=True)
    wait_for(lambda: statuses(allegro.queue) == {"TASK-001": "COMPLETE", "TASK-002": "COMPLETE"}, 20,
             what="allegro's tasks to be COMPLETE")
    wait_for(lambda: statuses(ezra.queue) == {"TASK-001": "COMPLETE", "TASK-002": "COMPLETE"}, 20,
             what="ezra's tasks to be COMPLETE")
    with open(os.path.join(ezra.completed_dir, "archive", "TASK-002.1.txt")) as f:
        assert "echo agent of wizard ezra" in f.read()
    # dispatch and monitor ran inside robe run (no child), one line per transition
    out = output(p)
    assert "ezra: dispatched TASK-002 (P2) attempt 1" in out
    assert "ezra: TASK-002 IN_PROGRESS -> COMPLETE (attempt 1)" in out

    assert stop(p) == 0
    out = output(p)
    assert "SIGTERM received" in out and "robe run: stopped" in out
    assert not os.path.exists(ezra.executor_file)  # the body is gone, and says so


def test_a_wizard_whose_agent_does_not_exist_fails_its_tasks_and_the_others_go_on(make_fleet, robe_run):
    fleet = make_fleet({"ezra": {}, "allegro": {"agent": {"kind": "command", "argv": ["/nonexistent/agent", "{task_id}"]},
                                                "max_attempts": 1}},
                       )
    ezra, allegro = fleet.wizard("ezra"), fleet.wizard("allegro")
    for w in (ezra, allegro):
        with open(w.queue, "w") as f:
            f.write("# Queue\n\n")
    p = robe_run(fleet)
    append(allegro.queue, task("TASK-001", "allegro") + task("TASK-002", "allegro"))
    append(ezra.queue, task("TASK-001", "ezra"))
    wait_for(lambda: statuses(allegro.queue) == {"TASK-001": "FAILED", "TASK-002": "FAILED"}, 30,
             what="allegro's tasks to FAIL")
    wait_for(lambda: statuses(ezra.queue) == {"TASK-001": "COMPLETE"}, 20, what="ezra's task to be COMPLETE")
    with open(os.path.join(allegro.completed_dir, "archive", "TASK-001.1.json")) as f:
        reason = json.load(f)["error"]
    assert "'/nonexistent/agent' was not found" in reason, reason
    append(ezra.queue, task("TASK-002", "ezra"))
    wait_for(lambda: statuses(ezra.queue).get("TASK-002") == "COMPLETE", 20, what="robe run to go on")
    assert p.poll() is None
    assert stop(p) == 0


def test_a_deleted_work_folder_is_recreated(ezra_fleet, robe_run):
    import shutil

    fleet, ezra = ezra_fleet(task("TASK-001", "ezra"))
    p = robe_run(fleet)
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 20, what="TASK-001")
    shutil.rmtree(ezra.work_dir)
    shutil.rmtree(ezra.completed_dir)
    wait_for(lambda: os.path.isdir(ezra.work_dir) and os.path.isdir(ezra.completed_dir), 5,
             what="work/ and completed/ to be recreated")
    assert oct(os.stat(ezra.work_dir).st_mode & 0o777) == "0o700"
    append(ezra.queue, task("TASK-002", "ezra"))
    wait_for(lambda: statuses(ezra.queue)["TASK-002"] == "COMPLETE", 20, what="TASK-002 after the rebuild")
    assert "was missing; recreated it" in output(p)
    assert stop(p) == 0


def test_robe_run_never_runs_a_job_that_cron_is_running(ezra_fleet, robe_run):
    """Both take logs/cron-<job>.lock: while cron's dispatch holds it, robe run waits."""
    fleet, ezra = ezra_fleet()
    fd = os.open(os.path.join(ezra.logs_dir, "cron-dispatch.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as 'flock -n' does for a dispatch cron started
    try:
        p = robe_run(fleet)
        append(ezra.queue, task("TASK-001", "ezra"))
        time.sleep(2.0)
        assert statuses(ezra.queue)["TASK-001"] == "PENDING"
    finally:
        os.close(fd)
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 20, what="the dispatch after the lock")
    assert stop(p) == 0


def test_sigint_stops_it_cleanly_while_an_agent_runs(make_fleet, robe_run, tmp_path):
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 1\necho done\n")
    slow.chmod(0o755)
    fleet = make_fleet({"ezra": {"agent": {"kind": "command", "argv": [str(slow)]}}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write("# Queue\n\n" + task("TASK-001", "ezra"))
    p = robe_run(fleet)
    wait_for(lambda: os.path.exists(os.path.join(ezra.work_dir, "TASK-001.heartbeat")), 10, what="the agent")
    p.send_signal(signal.SIGINT)
    assert p.wait(30) == 0
    # the running agent was let finish within the grace period: its result is there
    assert os.path.exists(os.path.join(ezra.completed_dir, "TASK-001.json")) or \
        os.path.exists(os.path.join(ezra.completed_dir, "archive", "TASK-001.1.json"))


def test_the_clock_runs_each_scheduled_job_as_its_child(make_fleet):
    """The schedule, in-process with a clock that jumps two minutes: the report job fires once."""
    import datetime as dt

    from robe.engine import Engine, Options
    from robe.cron.schedule import fleet_schedule

    off = {j: "off" for j in ("self-monitor", "dispatch", "monitor", "checkpoint")}
    fleet = make_fleet({"ezra": {"schedule": {"report": "* * * * *", **off}}})
    ezra = fleet.wizard("ezra")
    with open(ezra.queue, "w") as f:
        f.write("# Queue\n\n" + task("TASK-001", "ezra"))
    t0 = dt.datetime(2026, 11, 23, 10, 0, 30)
    calls = []

    def clock():
        calls.append(1)
        return t0 if len(calls) == 1 else t0 + dt.timedelta(minutes=2)

    entries = fleet_schedule(fleet)
    assert [(e.job, e.expr) for e in entries] == [("report", "* * * * *")]
    runner = Engine(fleet, entries=entries, options=Options(execute=False, react=False, kick=False), now=clock)
    latest = os.path.join(ezra.house, "reports", "latest.md")
    assert runner.run(until=lambda r: r.idle() and r.jobs[("ezra", "report")].runs >= 1, timeout=30)
    assert os.path.exists(latest)
    assert runner.jobs[("ezra", "report")].runs == 1  # once per minute of the clock, not per tick
    assert runner.jobs[("ezra", "report")].last_exit == 0
    assert runner.jobs[("ezra", "dispatch")].runs == 0


def test_a_burst_of_saves_gives_few_dispatches(ezra_fleet):
    import threading

    from robe.engine import Engine, Options

    fleet, ezra = ezra_fleet()
    runner = Engine(fleet, entries=[], options=Options(execute=False, kick=False, debounce=0.2))
    t = threading.Thread(target=runner.run, kwargs={"timeout": 30})
    t.start()
    try:
        time.sleep(0.5)  # the observers are up
        for i in range(1, 21):
            append(ezra.queue, task(f"TASK-{i}", "ezra"))
        wait_for(lambda: runner.jobs[("ezra", "dispatch")].runs >= 1 and runner.idle(), 15, what="the dispatch")
        time.sleep(0.5)
        # coalesced: one run for the burst, perhaps one more for dispatch's own write
        assert 1 <= runner.jobs[("ezra", "dispatch")].runs <= 3
        assert statuses(ezra.queue)["TASK-1"] == "IN_PROGRESS"
    finally:
        runner.request_stop()
        t.join(30)
    assert not t.is_alive()


def test_robe_run_holds_cron_s_locks_while_it_dispatches_in_process(make_fleet):
    """Dispatch and monitor run in robe run's own loop (one thread: never at once), and it
    holds each wizard's logs/cron-dispatch.lock and cron-monitor.lock while it runs, so the
    crontab's 'flock -n' lines find them taken and do nothing."""
    import threading

    from robe.engine import Engine, Options

    fleet = make_fleet({"ezra": {}, "allegro": {}})
    for w in fleet.wizards:
        with open(w.queue, "w") as f:
            f.write("# Queue\n\n" + "".join(task(f"TASK-{i}", w.name) for i in range(1, 4)))
    engine = Engine(fleet, entries=[], options=Options(exec_scan_interval=0.5))

    def done(r):
        return r.idle() and all(set(statuses(w.queue).values()) == {"COMPLETE"} for w in fleet.wizards)

    held = []

    def body():
        held.append(engine.run(until=done, timeout=60))

    t = threading.Thread(target=body)
    t.start()
    t.join(90)
    assert held == [True]
    # the passes were made in this process, not as children
    assert engine.jobs[("ezra", "dispatch")].runs >= 1 and engine.jobs[("ezra", "monitor")].runs >= 1
    assert engine.children.running() == []
    # and the locks are released when it stops
    for w in fleet.wizards:
        for job in ("dispatch", "monitor"):
            fd = os.open(os.path.join(w.logs_dir, f"cron-{job}.lock"), os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)


def test_cron_s_lines_find_the_locks_taken_while_robe_run_runs(ezra_fleet, robe_run):
    fleet, ezra = ezra_fleet(task("TASK-001", "ezra"))
    p = robe_run(fleet)
    wait_for(lambda: statuses(ezra.queue)["TASK-001"] == "COMPLETE", 20, what="TASK-001")
    fd = os.open(os.path.join(ezra.logs_dir, "cron-dispatch.lock"), os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert stop(p) == 0
