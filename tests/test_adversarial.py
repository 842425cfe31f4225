"""What an adversarial run found, each through real robe processes: finished work is not run
again, one bad task never stops a wizard, and the smaller faults end in one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from .support import bin_path, write, write_fleet

QUEUE = "".join(f"### TASK-{i}: task {i}\n- Status: PENDING\n\nbody {i}\n\n" for i in range(1, 5))


def fleet_of(tmp_path, **settings):
    settings.setdefault("max_active", 10)
    path = write_fleet(tmp_path, {"ezra": settings})
    qpath = write(tmp_path / "ezra" / "WORK-QUEUE.md", QUEUE)
    old = time.time() - 3600
    os.utime(qpath, (old, old))
    return path, qpath


def robe(path, *args, timeout=60):
    return subprocess.run([bin_path(args[0]), *args[1:]], env=dict(os.environ, ROBE_FLEET=path),
                          capture_output=True, text=True, timeout=timeout)


def ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def claim_events(tmp_path, tid):
    with open(tmp_path / "ezra" / "logs" / "events.jsonl") as f:
        return [e for e in map(json.loads, f) if e.get("task") == tid and e.get("event") == "dispatch"]


def edit(qpath, old, new):
    with open(qpath) as f:
        text = f.read()
    assert old in text
    with open(qpath, "w") as f:
        f.write(text.replace(old, new))
    past = time.time() - 30  # the person saved a while ago: no save in progress
    os.utime(qpath, (past, past))


def test_a_momentary_duplicate_id_does_not_make_finished_work_run_again(tmp_path):
    path, qpath = fleet_of(tmp_path)
    ok(robe(path, "openclaw-work", "-q"))
    ok(robe(path, "robe", "execute", "--once"))
    # A person pastes a copy of TASK-3 while it ran: for a moment the ID is there twice.
    edit(qpath, "### TASK-4:", "### TASK-3: a copy\n- Status: PENDING\n\n### TASK-4:")
    r = ok(robe(path, "task-monitor"))
    assert "TASK-3 kept" in r.stdout and "vanished" not in r.stdout
    assert os.path.exists(tmp_path / "ezra" / "completed" / "TASK-3.txt")  # the result waits
    edit(qpath, "### TASK-3: a copy\n- Status: PENDING\n\n", "")
    ok(robe(path, "task-monitor"))
    with open(qpath) as f:
        assert "### TASK-3: task 3\n- Status: COMPLETE" in f.read()
    ok(robe(path, "openclaw-work", "-q"))
    assert len(claim_events(tmp_path, "TASK-3")) == 1  # never claimed a second time


def test_an_editor_saving_a_stale_copy_does_not_make_finished_work_run_again(tmp_path):
    path, qpath = fleet_of(tmp_path)
    ok(robe(path, "openclaw-work", "-q"))
    with open(qpath) as f:
        stale = f.read()  # what the person's editor holds: everything IN_PROGRESS
    ok(robe(path, "robe", "execute", "--once"))
    ok(robe(path, "task-monitor"))
    with open(qpath) as f:
        assert f.read().count("COMPLETE") == 4
    with open(qpath, "w") as f:  # the editor saves its stale buffer
        f.write(stale)
    past = time.time() - 30
    os.utime(qpath, (past, past))
    r = ok(robe(path, "task-monitor", "--orphan-grace", "0"))
    assert r.stdout.count("IN_PROGRESS -> COMPLETE") == 4, r.stdout
    with open(qpath) as f:
        assert f.read().count("COMPLETE") == 4
    ok(robe(path, "openclaw-work", "-q"))
    for i in range(1, 5):
        assert len(claim_events(tmp_path, f"TASK-{i}")) == 1
    assert not os.listdir(tmp_path / "ezra" / "work" / "archive") == []


def test_an_overlong_id_and_a_symlinked_result_never_stop_the_wizard(tmp_path):
    path, qpath = fleet_of(tmp_path)
    with open(qpath, "a") as f:
        f.write(f"- [ ] TASK-{'9' * 300} PENDING an ID far too long for a file name\n")
    outside = write(tmp_path / "outside.txt", "not robe's\n")
    os.makedirs(tmp_path / "ezra" / "completed")
    os.symlink(outside, tmp_path / "ezra" / "completed" / "TASK-2.txt")  # a re-run would move it
    old = time.time() - 3600
    os.utime(qpath, (old, old))
    r = robe(path, "openclaw-work")
    assert "Traceback" not in r.stderr
    claimed = sorted(n for n in os.listdir(tmp_path / "ezra" / "work") if n.endswith(".active"))
    assert "TASK-1.active" in claimed and "TASK-3.active" in claimed and "TASK-4.active" in claimed
    with open(outside) as f:
        assert f.read() == "not robe's\n"
    v = robe(path, "robe", "queue", "validate", "-f", qpath)
    assert v.returncode == 1 and "characters long" in v.stdout


def test_a_pipe_at_the_queue_path_never_hangs_a_command(tmp_path):
    path, qpath = fleet_of(tmp_path)
    os.unlink(qpath)
    os.mkfifo(qpath)
    for args in (["openclaw-work"], ["task-monitor"], ["robe", "queue", "list", "-f", qpath],
                 ["robe", "queue", "set", "TASK-1", "BLOCKED", "-f", qpath], ["robe", "status"]):
        t = time.monotonic()
        r = robe(path, *args, timeout=30)
        assert time.monotonic() - t < 20, args
        assert "Traceback" not in r.stderr, (args, r.stderr)
        if args[0] != "robe" or args[1] != "status":
            assert r.returncode == 1 and "not a regular file" in r.stderr, (args, r.stderr)


def test_symlinked_house_folders_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    for folder in ("work", "work/archive", "completed/archive"):
        root = tmp_path / folder.replace("/", "-")
        path, qpath = fleet_of(root)
        target = elsewhere / folder.replace("/", "-")
        target.mkdir(parents=True)
        link = root / "ezra" / folder
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
        r = robe(path, "openclaw-work")
        assert r.returncode == 1 and "leads outside the house" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert os.listdir(target) == []
    root = tmp_path / "events"
    path, qpath = fleet_of(root)
    os.makedirs(root / "ezra" / "logs")
    os.symlink(write(elsewhere / "log.txt", ""), root / "ezra" / "logs" / "events.jsonl")
    r = robe(path, "openclaw-work")
    assert r.returncode == 1 and "events.jsonl is a link" in r.stderr
    with open(elsewhere / "log.txt") as f:
        assert f.read() == ""


def test_a_dispatch_killed_right_after_its_claim_leaves_the_claim_s_event(tmp_path):
    path, qpath = fleet_of(tmp_path)
    code = ("import os, sys\n"
            "import robe.dispatch as d\n"
            "d._mark = lambda *a, **k: os._exit(9)\n"  # killed before it marks IN_PROGRESS
            "from robe.fleet.config import load_fleet\n"
            "d.dispatch(load_fleet(sys.argv[1]), gateway=False)\n")
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 9, r.stderr
    claims = sorted(n[:-7] for n in os.listdir(tmp_path / "ezra" / "work") if n.endswith(".active"))
    assert claims
    for tid in claims:
        assert len(claim_events(tmp_path, tid)) == 1
    ok(robe(path, "openclaw-work", "-q"))  # the next run repairs the marks, claims nothing twice
    with open(qpath) as f:
        assert f.read().count("IN_PROGRESS") == 4


def test_a_heartbeat_dated_in_the_future_does_not_keep_a_dead_claim_alive(tmp_path):
    path, qpath = fleet_of(tmp_path, lease=60)
    ok(robe(path, "openclaw-work", "-q"))
    work = tmp_path / "ezra" / "work"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    beat = write(work / "TASK-1.heartbeat", json.dumps({"pid": gone.pid, "start": 1, "host": os.uname().nodename,
                                                       "agent_pid": gone.pid, "agent_start": 1}))
    future = time.time() + 3600  # the clock was stepped back: every timestamp looks fresh
    for p in (beat, work / "TASK-1.active"):
        os.utime(p, (future, future))
    r = ok(robe(path, "task-monitor"))
    assert "TASK-1 IN_PROGRESS -> PENDING" in r.stdout and "reaped" in r.stdout


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MiB file system (tmpfs) to fill up; root, as CI runs, mounts it."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs to fill ({r.stderr.strip()}); run the tests as root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def fill(folder) -> None:
    with open(os.path.join(folder, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_is_one_sentence_in_dispatch_and_execute(full_disk):
    path, qpath = fleet_of(full_disk)
    fill(full_disk)
    r = robe(path, "openclaw-work")
    assert r.returncode == 1 and "the disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with open(qpath) as f:
        assert f.read() == QUEUE  # nothing half-written
    os.unlink(full_disk / "filler")
    ok(robe(path, "openclaw-work", "-q"))
    fill(full_disk)
    r = robe(path, "robe", "execute", "--once")
    assert r.returncode == 1 and "the disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("line", ["- Status:\u00a0BLOCKED", "**Status: BLOCKED**", "- Status\uff1aBLOCKED",
                                  "- Status BLOCKED", "- Stauts: BLOCKED"])
def test_a_blocked_task_robe_cannot_read_at_first_glance_is_never_dispatched(tmp_path, line):
    path, qpath = fleet_of(tmp_path)
    edit(qpath, "### TASK-2: task 2\n- Status: PENDING", f"### TASK-2: task 2\n{line}")
    r = robe(path, "openclaw-work")
    assert "Traceback" not in r.stderr
    assert not os.path.exists(tmp_path / "ezra" / "work" / "TASK-2.active")
    with open(qpath) as f:
        text = f.read()
    assert f"### TASK-2: task 2\n{line}\n\nbody 2" in text  # the person's lines, untouched, none added
    assert text.count("IN_PROGRESS") == 3
