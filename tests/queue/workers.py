"""Worker processes for the reliability tests: ``python workers.py COMMAND ARGS``.

They use robe's queue library as the dispatcher and monitor will: each is a real process.
"""

import json
import os
import random
import sys
import time

from robe.queue import Change, NewTask, Status, add_task, set_statuses


def log_line(path, record):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def mixed(path, seed, n, worker, order_log, ids):
    """n random set/add calls; the order of real writes goes to order_log (under the lock)."""
    rnd = random.Random(int(seed))
    ids = ids.split(",")
    for j in range(int(n)):
        if rnd.random() < 0.3:
            title = f"added by w{worker} #{j}"
            add_task(path, NewTask(title), _hook=lambda stage, t=title: stage == "checked" and log_line(
                order_log, {"add": t}))
        else:
            tid, status = rnd.choice(ids), rnd.choice(list(Status))
            set_statuses(path, [Change(tid, status)], _hook=lambda stage, t=tid, s=status: stage == "checked" and log_line(
                order_log, {"task": t, "status": s.value}))


def toggle(path, task_id):
    """Flip one task between PENDING and COMPLETE forever (until killed)."""
    status = Status.COMPLETE
    first = True
    while True:
        set_statuses(path, [Change(task_id, status)])
        if first:
            print("ready", flush=True)
            first = False
        status = Status.PENDING if status is Status.COMPLETE else Status.COMPLETE


def paused(path, task_id, status, stage, sync_dir):
    """Set one status, pausing at ``stage`` until the test (the 'person') says go."""
    def hook(at):
        if at == stage and not os.path.exists(os.path.join(sync_dir, "went")):
            open(os.path.join(sync_dir, "paused"), "w").close()
            while not os.path.exists(os.path.join(sync_dir, "go")):
                time.sleep(0.005)
            open(os.path.join(sync_dir, "went"), "w").close()
    set_statuses(path, [Change(task_id, Status(status))], _hook=hook)


if __name__ == "__main__":
    {"mixed": mixed, "toggle": toggle, "paused": paused}[sys.argv[1]](*sys.argv[2:])
