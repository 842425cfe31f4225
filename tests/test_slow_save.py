"""A person's editor saving in place, slowly, while robe works on the file: nothing they wrote is
lost, and every version robe displaced is kept in logs/displaced/ beside the queue.

The editor truncates WORK-QUEUE.md and writes it in 64 KB pieces with pauses of 10 ms, 0.2 s,
0.5 s or 1 s between them; 0.3 s after it started, a real robe process (queue set, dispatch,
monitor, or robe run) works on the same file. Afterwards the file must be the person's text
with only robe's status words changed.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

import pytest

from robe.queue.displaced import KEEP

from .support import bin_path, write_fleet

PAUSES = (0.01, 0.2, 0.5, 1.0)
TRIALS = 20  # per command, the pauses taken in turn
STATUS_RE = re.compile(r"\b(PENDING|IN_PROGRESS|COMPLETE|FAILED|BLOCKED)\b")

PERSON = r"""
import os, sys, time
path, src, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
data = open(src, "rb").read()
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
for i in range(0, len(data), 65536):
    os.write(fd, data[i:i + 65536])
    if i + 65536 < len(data):
        time.sleep(pause)
os.close(fd)
"""


def queue_text(n: int, extra: str = "") -> str:
    parts = ["# Work queue\n\n## P1\n\n"]
    for i in range(1, n + 1):
        if i % 4 == 0:
            parts.append(f"- [ ] TASK-{i} PENDING checklist task {i} {'x' * 40}\n\n")
        else:
            parts.append(f"### TASK-{i}: section task {i}\n- Status: PENDING\n\nThe body of task {i}, with "
                         f"enough words to make a realistic file: {'lorem ipsum ' * 6}\n\n")
    return "".join(parts) + extra


def normalised(text: str) -> str:
    return STATUS_RE.sub("S", text).replace("[x]", "[ ]")


def setup(folder: str) -> tuple[str, str, str]:
    """A fleet with one echo wizard whose queue holds an older text; the person's new text."""
    path = write_fleet(folder, {"ezra": {"max_active": 3}})
    qpath = os.path.join(folder, "ezra", "WORK-QUEUE.md")
    os.makedirs(os.path.dirname(qpath), exist_ok=True)
    with open(qpath, "w") as f:
        f.write(queue_text(600))
    old = time.time() - 3600
    os.utime(qpath, (old, old))
    return path, qpath, os.path.join(folder, "person.md")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def trial(folder: str, command: str, pause: float) -> None:
    fleet, qpath, person_file = setup(folder)
    env = dict(os.environ, ROBE_FLEET=fleet)
    if command == "monitor":  # a claim with a result, for the monitor to fold
        assert run([bin_path("openclaw-work"), "-q"], env=env).returncode == 0
        assert run([bin_path("robe"), "execute", "--once"], env=env).returncode == 0
    with open(qpath) as f:
        base = f.read()
    # The person's save: what they saw (robe's marks included), a typo fixed, tasks appended.
    mine = base.replace("task 7,", "task seven,") + "".join(
        f"### TASK-{i}: written by the person {i}\n- Status: PENDING\n\nnew body {i}\n\n" for i in range(900, 960))
    with open(person_file, "w") as f:
        f.write(mine)
    person = subprocess.Popen([sys.executable, "-c", PERSON, qpath, person_file, str(pause)])
    time.sleep(0.3)
    argv = {"set": [bin_path("robe"), "queue", "set", "TASK-5", "COMPLETE", "-f", qpath],
            "dispatch": [bin_path("openclaw-work"), "-q", "--no-gateway"],
            "monitor": [bin_path("task-monitor")]}[command]
    r = run(argv, env=env)
    assert person.wait(60) == 0
    assert r.returncode == 0, (command, pause, r.stdout, r.stderr)
    with open(qpath) as f:
        final = f.read()
    assert normalised(final) == normalised(mine), f"{command}, pause {pause}: the person's save was changed"
    assert final != mine, f"{command}: robe wrote nothing"
    check_displaced(qpath)


def check_displaced(qpath: str) -> None:
    """Every write robe made is in the index, and the version it displaced is in the folder
    (robe keeps the newest ``KEEP``: robe run may write many more times during one trial)."""
    folder = os.path.join(os.path.dirname(qpath), "logs", "displaced")
    with open(os.path.join(folder, "WORK-QUEUE.md.index.jsonl")) as f:
        writes = [e for e in map(json.loads, f) if "wrote" in e]
    assert writes
    for e in writes[-KEEP:]:
        assert e["displaced"] and os.path.exists(os.path.join(folder, e["displaced"]))


@pytest.mark.slow
@pytest.mark.parametrize("command", ["set", "dispatch", "monitor"])
def test_a_slow_in_place_save_loses_nothing(tmp_path, command):
    jobs = [(str(tmp_path / f"t{k}"), command, PAUSES[k % len(PAUSES)]) for k in range(TRIALS)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(trial, *job) for job in jobs]:
            f.result()


@pytest.mark.slow
def test_a_slow_in_place_save_under_robe_run_loses_nothing(tmp_path):
    """robe run reacts to the save as soon as it starts: it must wait for the end of it."""
    for k in range(TRIALS):
        folder = str(tmp_path / f"t{k}")
        fleet, qpath, person_file = setup(folder)
        with open(qpath) as f:
            base = f.read()
        mine = base + "".join(f"- [ ] TASK-{i} PENDING the person's new task {i}\n" for i in range(700, 1400))
        with open(person_file, "w") as f:
            f.write(mine)
        env = dict(os.environ, ROBE_FLEET=fleet)
        runner = subprocess.Popen([bin_path("robe"), "run", "-q"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.5)  # its first dispatch and monitor are done
            person = subprocess.Popen([sys.executable, "-c", PERSON, qpath, person_file,
                                       str(PAUSES[k % len(PAUSES)])])
            assert person.wait(60) == 0
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                with open(qpath) as f:
                    final = f.read()
                if final.count("COMPLETE") >= 4:  # it went on dispatching from the person's file
                    break
                time.sleep(0.2)
        finally:
            runner.terminate()
            runner.wait(30)
        with open(qpath) as f:
            final = f.read()
        assert normalised(final) == normalised(mine), f"trial {k}: the person's save was changed"
        check_displaced(qpath)


def test_a_save_that_lands_in_the_displaced_file_becomes_the_queue_again(tmp_path):
    """An editor holding the file open writes after robe replaced it (a pause longer than robe
    waits for): its text lands in the displaced file; robe's next write restores it, with
    robe's own change made on it."""
    fleet, qpath, _ = setup(str(tmp_path))
    with open(qpath) as f:
        base = f.read()
    fd = os.open(qpath, os.O_WRONLY)  # the editor opened the file before robe's write
    assert run([bin_path("robe"), "queue", "set", "TASK-2", "BLOCKED", "-f", qpath]).returncode == 0
    mine = base + "### TASK-990: written after robe's write\n- Status: PENDING\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, mine.encode(), 0)
    os.close(fd)
    time.sleep(0.05)
    r = run([bin_path("robe"), "queue", "set", "TASK-3", "FAILED", "-f", qpath])
    assert r.returncode == 0, r.stderr
    with open(qpath) as f:
        final = f.read()
    assert "TASK-990: written after robe's write" in final  # the person's save is the queue again
    assert "### TASK-2: section task 2\n- Status: BLOCKED" in final  # robe's first change, made again
    assert "### TASK-3: section task 3\n- Status: FAILED" in final
    assert normalised(final) == normalised(mine)


def test_a_file_cut_short_is_not_written_over(tmp_path):
    """A save that stopped half way (most tasks gone a moment ago) is refused, with where the
    earlier versions are."""
    fleet, qpath, _ = setup(str(tmp_path))
    assert run([bin_path("robe"), "queue", "set", "TASK-2", "BLOCKED", "-f", qpath]).returncode == 0
    with open(qpath) as f:
        full = f.read()
    with open(qpath, "w") as f:
        f.write(full[:3000])  # a save cut short
    old = time.time() - 5  # quiet, but only for a moment
    os.utime(qpath, (old, old))
    r = run([bin_path("robe"), "queue", "set", "TASK-3", "FAILED", "-f", qpath])
    assert r.returncode == 1
    assert "looks cut short" in r.stderr and "logs/displaced" in r.stderr
    with open(qpath) as f:
        assert f.read() == full[:3000]
    older = time.time() - 120  # a minute later it is the person's text
    os.utime(qpath, (older, older))
    assert run([bin_path("robe"), "queue", "set", "TASK-3", "FAILED", "-f", qpath]).returncode == 0


def test_robe_s_own_writes_are_not_waited_for(tmp_path):
    """The quiet wait is for other writers: robe's writes follow each other at once."""
    fleet, qpath, _ = setup(str(tmp_path))
    t = time.monotonic()
    for k in range(2, 7):
        assert run([bin_path("robe"), "queue", "set", f"TASK-{k}", "BLOCKED", "-f", qpath]).returncode == 0
    assert time.monotonic() - t < 10  # a person's save just before would cost ~2 s each
    with open(qpath, "a") as f:
        f.write("- [ ] TASK-999 PENDING appended just now\n")
    t = time.monotonic()
    assert run([bin_path("robe"), "queue", "set", "TASK-8", "BLOCKED", "-f", qpath]).returncode == 0
    assert time.monotonic() - t >= 1.5  # it waited for the person's save to be quiet

