"""The dashboard's actions through the real server: each is one change through the queue's
locked writer with the status the page showed as its precondition, logged as a person's
change; a stale page gets the writer's conflict sentence and the file keeps its bytes."""

from __future__ import annotations

import json
import os

import pytest

from robe.queue import load

from ..support import read
from .conftest import Client, write_fleet, write_queue

QUEUE = ("# Queue\n\n"
         "- [ ] TASK-1 P1 FAILED Flaky one\n"
         "- [ ] TASK-2 P2 PENDING Next one\n"
         "- [ ] TASK-3 IN_PROGRESS Running one\n"
         "- [ ] TASK-4 P3 BLOCKED Held one\n")


@pytest.fixture
def served(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {}, "allegro": {}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, QUEUE)
    _proc, base = dashboard(fleet)
    return fleet, ezra, Client(base)


def person_events(w) -> list[dict]:
    with open(os.path.join(os.path.dirname(w.queue), "logs", "events.jsonl")) as f:
        return [e for e in map(json.loads, f) if e.get("manual")]


@pytest.mark.parametrize("action, task, shown, new, line", [
    ("retry", "TASK-1", "FAILED", "PENDING", "- [ ] TASK-1 P1 PENDING Flaky one"),
    ("cancel", "TASK-3", "IN_PROGRESS", "FAILED", "- [ ] TASK-3 FAILED Running one"),
    ("block", "TASK-2", "PENDING", "BLOCKED", "- [ ] TASK-2 P2 BLOCKED Next one"),
    ("unblock", "TASK-4", "BLOCKED", "PENDING", "- [ ] TASK-4 P3 PENDING Held one"),
])
def test_a_status_action_changes_only_that_status_word(served, action, task, shown, new, line):
    fleet, ezra, c = served
    status, answer = c.act({"action": action, "queue": "ezra", "task": task, "expect": shown})
    assert status == 200 and answer["ok"] is True, answer
    after = read(ezra.queue)
    old = next(ln for ln in QUEUE.splitlines() if f" {task} " in ln)
    assert after == QUEUE.replace(old, line)
    e = person_events(ezra)[-1]
    assert (e["task"], e["from"], e["to"]) == (task, shown, new)
    assert e["by"].startswith("person:") and "from the dashboard (127.0.0.1)" in e["detail"]
    if action == "cancel":
        assert e["detail"].startswith("cancelled from the dashboard")


def test_a_stale_page_gets_the_conflict_and_nothing_is_written(served):
    fleet, ezra, c = served
    # The page showed TASK-2 as FAILED, but the file says PENDING now.
    status, answer = c.act({"action": "retry", "queue": "ezra", "task": "TASK-2", "expect": "FAILED"})
    assert status == 409 and answer["conflict"] is True
    assert answer["message"] == "TASK-2 is PENDING now, not FAILED; nothing was changed"
    status, answer = c.act({"action": "retry", "queue": "ezra", "task": "TASK-9", "expect": "FAILED"})
    assert status == 409 and answer["message"] == "TASK-9 cannot be changed: it is not in the queue"
    # An action that does not fit the status the page showed is malformed, not a conflict.
    status, answer = c.act({"action": "retry", "queue": "ezra", "task": "TASK-2", "expect": "PENDING"})
    assert status == 400 and "retry applies to a FAILED task" in answer["message"]
    assert read(ezra.queue) == QUEUE
    assert not os.path.exists(os.path.join(ezra.logs_dir, "events.jsonl")) or person_events(ezra) == []


def test_change_priority_expects_the_priority_the_page_showed(served):
    fleet, ezra, c = served
    status, answer = c.act({"action": "priority", "queue": "ezra", "task": "TASK-2", "expect": "PENDING",
                            "priority": "P0", "expect_priority": "P2"})
    assert status == 200 and answer["message"] == "TASK-2: priority P2 -> P0"
    assert read(ezra.queue) == QUEUE.replace("TASK-2 P2 PENDING", "TASK-2 P0 PENDING")
    status, answer = c.act({"action": "priority", "queue": "ezra", "task": "TASK-2", "expect": "PENDING",
                            "priority": "P3", "expect_priority": "P2"})
    assert status == 409 and answer["message"] == "TASK-2's priority is P0 now, not P2; nothing was changed"
    # A task with no priority written gets one, right after its ID.
    status, answer = c.act({"action": "priority", "queue": "ezra", "task": "TASK-3", "expect": "IN_PROGRESS",
                            "priority": "P1", "expect_priority": "P2"})
    assert status == 200, answer
    assert "- [ ] TASK-3 P1 IN_PROGRESS Running one\n" in read(ezra.queue)
    e = person_events(ezra)[-1]
    assert e["event"] == "priority" and e["detail"].startswith("priority P2 -> P1")
    assert c.act({"action": "priority", "queue": "ezra", "task": "TASK-3", "expect": "IN_PROGRESS",
                  "priority": "P9"})[0] == 400


def test_add_a_task_to_a_wizards_queue(served):
    fleet, ezra, c = served
    allegro = fleet.wizard("allegro")
    write_queue(allegro.queue, "# Queue\n\n### TASK-7: Existing\n- Status: COMPLETE\n")
    status, answer = c.act({"action": "add", "wizard": "allegro", "title": "Rotate the <gateway> logs",
                            "priority": "P1", "tags": "ops, logs", "body": "Keep seven days.\nThen report."})
    assert status == 200 and answer["task"] == "TASK-8", answer
    task = load(allegro.queue).get("TASK-8")
    assert (task.title, task.priority, task.status.value, task.assignee, task.tags) == (
        "Rotate the <gateway> logs", "P1", "PENDING", "allegro", ("ops", "logs"))
    assert task.body == "Keep seven days.\nThen report."
    assert read(allegro.queue).startswith("# Queue\n\n### TASK-7: Existing\n- Status: COMPLETE\n\n### TASK-8: ")
    for bad, why in (({"title": "  "}, "a task needs a title"), ({"title": "a\nb"}, "must be one line"),
                     ({"title": "t", "priority": "P7"}, "unknown priority"), ({"title": "x" * 301}, "longer than")):
        status, answer = c.act({"action": "add", "wizard": "allegro", **bad})
        assert status == 400 and why in answer["message"], (bad, answer)
    assert [t.id for t in load(allegro.queue).tasks] == ["TASK-7", "TASK-8"]
