"""Reliability with real processes: concurrent writers, SIGKILL mid-write, a person's editor."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from robe.queue import Status, load

WORKER = [sys.executable, os.path.join(os.path.dirname(__file__), "workers.py")]


def queue_text(n, prefix="TASK"):
    parts = ["# Queue\n\n"]
    for i in range(1, n + 1):
        if i % 3 == 0:
            parts.append(f"- [ ] {prefix}-{i} PENDING checklist task {i}\n\n")
        else:
            parts.append(f"### {prefix}-{i}: section task {i}\n- Status: PENDING\n\nBody of {i}, ünïcode ✓.\n\n")
    return "".join(parts)


def wait_all(procs, timeout=180):
    deadline = time.monotonic() + timeout
    for p in procs:
        _, err = p.communicate(timeout=max(deadline - time.monotonic(), 1))
        assert p.returncode == 0, err


@pytest.mark.slow
def test_eight_processes_fifty_random_calls_each(tmp_path):
    path = tmp_path / "WORK-QUEUE.md"
    path.write_text(queue_text(30))
    order = tmp_path / "order.jsonl"
    ids = ",".join(f"TASK-{i}" for i in range(1, 31))
    procs = [subprocess.Popen(WORKER + ["mixed", str(path), str(seed), "50", str(seed), str(order), ids],
                              stderr=subprocess.PIPE, text=True) for seed in range(8)]
    wait_all(procs)
    q = load(str(path))
    assert q.problems == ()
    with open(order) as f:
        writes = [json.loads(line) for line in f]
    # Every add is present exactly once (and nothing else was added).
    added = [w["add"] for w in writes if "add" in w]
    titles = [t.title for t in q.tasks if t.title.startswith("added by")]
    assert sorted(titles) == sorted(added)
    assert len(set(titles)) == len(titles) and len(titles) > 0
    assert len({t.id for t in q.tasks}) == 30 + len(added)
    # The last status written for each task is the one in the file.
    last = {}
    for w in writes:
        if "task" in w:
            last[w["task"]] = w["status"]
    for i in range(1, 31):
        tid = f"TASK-{i}"
        assert q.get(tid).status.value == last.get(tid, "PENDING"), tid


@pytest.mark.slow
def test_sigkill_mid_write_leaves_old_or_new_never_a_mix(tmp_path):
    path = tmp_path / "WORK-QUEUE.md"
    original = queue_text(1500)
    path.write_text(original)
    pending = original.encode()
    complete = original.replace("### TASK-700: section task 700\n- Status: PENDING",
                                "### TASK-700: section task 700\n- Status: COMPLETE").encode()
    assert pending != complete
    rnd = random.Random(2026)
    seen = {pending: 0, complete: 0}
    for _ in range(200):
        p = subprocess.Popen(WORKER + ["toggle", str(path), "TASK-700"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdout.readline() == b"ready\n", p.stderr.read()
        time.sleep(rnd.uniform(0, 0.25))  # a write of 1,500 tasks takes ~50 ms
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        data = path.read_bytes()
        assert data in seen, "the queue is neither the old nor the new file"
        seen[data] += 1
    assert seen[pending] and seen[complete]  # kills landed on both sides of writes
    # Temp files of killed writers are swept by the next write; the lock is free.
    subprocess.run(WORKER + ["paused", str(path), "TASK-1", "COMPLETE", "none", str(tmp_path)], check=True, timeout=60)
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []
    assert load(str(path)).get("TASK-1").status is Status.COMPLETE


def person_edit(path, text_change, in_place):
    data = path.read_text()
    new = text_change(data)
    if in_place:
        with open(path, "r+") as f:  # like nano, or vim with backupcopy=yes
            f.write(new)
            f.truncate()
    else:
        tmp = path.with_name(".editor-save")
        tmp.write_text(new)
        os.replace(tmp, path)  # like most editors' safe save


@pytest.mark.parametrize("stage, in_place", [("read", False), ("read", True), ("checked", True), ("checked", False)])
def test_a_person_saving_while_robe_writes_loses_nothing(tmp_path, stage, in_place):
    path = tmp_path / "WORK-QUEUE.md"
    path.write_text(queue_text(6))
    sync = tmp_path / "sync"
    sync.mkdir()
    robe = subprocess.Popen(WORKER + ["paused", str(path), "TASK-2", "COMPLETE", stage, str(sync)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (sync / "paused").exists():
        assert time.monotonic() < deadline and robe.poll() is None, robe.communicate()[1]
        time.sleep(0.005)

    def edit(text):  # a typo fixed in a body, and a task appended
        return text.replace("Body of 4,", "The body of 4,") + "### TASK-99: written by a person\n"
    person_edit(path, edit, in_place)
    (sync / "go").touch()
    wait_all([robe], timeout=30)
    q = load(str(path))
    assert q.problems == ()
    assert q.get("TASK-2").status is Status.COMPLETE
    assert q.get("TASK-99") is not None
    assert q.get("TASK-4").body.startswith("The body of 4,")
