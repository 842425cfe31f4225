"""Which task is next: PENDING, routed here, dependencies COMPLETE, floor, order, capacity."""

from __future__ import annotations

import json
import os
import time

from .dispatch_helpers import claims_in, read, write, write_fleet

from robe.dispatch import ready_for
from robe.routing import ready_tasks
from robe.fleet.config import load_fleet
from robe.queue import load


def one_wizard(tmp_path, queue: str, **settings):
    path = write_fleet(tmp_path, {"allegro": settings})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", queue)
    return path


MIXED = """
# Queue
- [ ] TASK-001 P2 PENDING third by priority
- [ ] TASK-002 P0 PENDING first
- [x] TASK-003 P0 COMPLETE done already
- [ ] TASK-004 P1 PENDING second
- [ ] TASK-005 P0 BLOCKED blocked by a person
- [ ] TASK-006 P0 IN_PROGRESS running
- [ ] TASK-007 P0 FAILED failed
- [ ] TASK-008 P2 PENDING fourth: same priority as 001, later in the file
- [ ] TASK-009 P3 PENDING fifth
"""


def test_order_is_priority_then_file_position(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED, max_active=10)
    run = dispatch_run(path)
    assert run.out == [
        "allegro: dispatched TASK-002 (P0) attempt 1",
        "allegro: dispatched TASK-004 (P1) attempt 1",
        "allegro: dispatched TASK-001 (P2) attempt 1",
        "allegro: dispatched TASK-008 (P2) attempt 1",
        "allegro: dispatched TASK-009 (P3) attempt 1",
    ]
    assert claims_in(tmp_path / "allegro") == ["TASK-001", "TASK-002", "TASK-004", "TASK-008", "TASK-009"]
    q = load(str(tmp_path / "allegro" / "WORK-QUEUE.md"))
    assert {t.id: t.status.value for t in q.tasks} == {
        "TASK-001": "IN_PROGRESS", "TASK-002": "IN_PROGRESS", "TASK-003": "COMPLETE", "TASK-004": "IN_PROGRESS",
        "TASK-005": "BLOCKED", "TASK-006": "IN_PROGRESS", "TASK-007": "FAILED", "TASK-008": "IN_PROGRESS",
        "TASK-009": "IN_PROGRESS"}


def test_ready_tasks_is_what_the_run_takes(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED, max_active=10)
    fleet = load_fleet(path)
    q = load(fleet.wizard("allegro").queue)
    assert [t.id for t in ready_for(fleet, q, "allegro")] == ["TASK-002", "TASK-004", "TASK-001", "TASK-008",
                                                               "TASK-009"]
    assert [t.id for t in ready_tasks(fleet, q, "allegro", claimed={"TASK-002"})][:1] == ["TASK-004"]


def test_dependencies_must_be_complete(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, """
    - [ ] TASK-001 P0 PENDING needs 2 and 3
      - Depends: TASK-002, TASK-003
    - [ ] TASK-002 P1 PENDING a dependency
    - [x] TASK-003 P1 COMPLETE done
    - [ ] TASK-004 P2 PENDING needs only 3
      - Depends: TASK-003
    """, max_active=10)
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-002", "TASK-004"]
    qpath = tmp_path / "allegro" / "WORK-QUEUE.md"
    text = read(qpath).replace("TASK-002 P1 IN_PROGRESS", "TASK-002 P1 COMPLETE")
    with open(qpath, "w") as f:
        f.write(text)
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-001"]


def test_dispatch_floor_p0_reproduces_the_seed(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED, max_active=10, dispatch_floor="P0")
    run = dispatch_run(path)
    assert run.out == ["allegro: dispatched TASK-002 (P0) attempt 1"]
    path = one_wizard(tmp_path / "b", MIXED, max_active=10, dispatch_floor="P1")
    assert [c.id for c in dispatch_run(path).report.claims] == ["TASK-002", "TASK-004"]


def test_capacity_is_max_active_live_claims(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED)  # max_active defaults to 1
    assert [c.id for c in dispatch_run(path).report.claims] == ["TASK-002"]
    run = dispatch_run(path)
    assert run.report.claims == []
    assert run.err == ["allegro: at capacity (1 live claim, max_active 1); 4 ready tasks wait"]
    # The agent answered: the claim no longer holds a slot, though the monitor has not archived it.
    write(tmp_path / "allegro" / "completed" / "TASK-002.txt", "the answer\n")
    assert [c.id for c in dispatch_run(path).report.claims] == ["TASK-004"]


def test_a_dead_claim_holds_no_slot_but_is_never_claimed_again(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED, lease=60)
    assert [c.id for c in dispatch_run(path).report.claims] == ["TASK-002"]
    old = time.time() - 3600
    os.utime(tmp_path / "allegro" / "work" / "TASK-002.active", (old, old))
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-004"]
    # A fresh heartbeat makes a claim live again.
    with open(tmp_path / "allegro" / "work" / "TASK-002.heartbeat", "w") as f:
        json.dump({"pid": 1}, f)
    os.utime(tmp_path / "allegro" / "work" / "TASK-004.active", (old, old))
    run = dispatch_run(path)
    assert run.report.claims == [] and run.report.wizards[0].live == 1


def test_max_limits_claims_per_wizard(tmp_path, dispatch_run):
    path = one_wizard(tmp_path, MIXED, max_active=10)
    assert [c.id for c in dispatch_run(path, max_claims=2).report.claims] == ["TASK-002", "TASK-004"]
    assert dispatch_run(path, max_claims=0).report.claims == []


def test_tasks_of_a_shared_queue_go_to_their_routed_wizards(tmp_path, dispatch_run):
    wizards = {n: {"queue": "WORK-QUEUE.md", "max_active": 5} for n in ("ezra", "allegro", "primus")}
    path = write_fleet(tmp_path, wizards, routes=[({"tags": ["research"]}, "ezra"), ({"id": ["BUG-*"]}, "primus")],
                       default="allegro")
    write(tmp_path / "WORK-QUEUE.md", """
    - [ ] TASK-001 P1 PENDING research
      - Tags: research
    - [ ] BUG-2 P1 PENDING a bug
    - [ ] TASK-003 P1 PENDING plain
    - [ ] TASK-004 P0 PENDING for primus by name
      - Assignee: primus
    """)
    run = dispatch_run(path)
    assert run.out == ["ezra: dispatched TASK-001 (P1) attempt 1",
                       "allegro: dispatched TASK-003 (P1) attempt 1",
                       "primus: dispatched TASK-004 (P0) attempt 1",
                       "primus: dispatched BUG-2 (P1) attempt 1"]
    assert claims_in(tmp_path / "ezra") == ["TASK-001"]
    assert claims_in(tmp_path / "primus") == ["BUG-2", "TASK-004"]
    only = dispatch_run(path, ["ezra"])
    assert [w.name for w in only.report.wizards] == ["ezra"]


def test_a_claim_in_another_house_blocks_the_task(tmp_path, dispatch_run):
    wizards = {n: {"queue": "WORK-QUEUE.md", "max_active": 5} for n in ("ezra", "allegro")}
    path = write_fleet(tmp_path, wizards, default="allegro")
    write(tmp_path / "WORK-QUEUE.md", "- [ ] TASK-001 P1 PENDING moved between wizards\n  - Assignee: ezra\n")
    assert [c.wizard for c in dispatch_run(path).report.claims] == ["ezra"]
    # A person's stale editor writes PENDING back and drops the assignee: ezra's claim (marked
    # IN_PROGRESS once) still holds the task, so allegro does not claim it; the person's PENDING
    # stays, and asks ezra's executor to cancel the attempt (then it runs again as attempt 2).
    with open(tmp_path / "WORK-QUEUE.md", "w") as f:
        f.write("- [ ] TASK-001 P1 PENDING moved between wizards\n")
    run = dispatch_run(path)
    assert run.report.claims == []
    assert claims_in(tmp_path / "allegro") == [] and claims_in(tmp_path / "ezra") == ["TASK-001"]
    assert "PENDING" in read(tmp_path / "WORK-QUEUE.md")


def test_ready_tasks_skips_claimed_tasks_of_this_queue_only(tmp_path, dispatch_run):
    # Two wizards, each with its own queue; both queues have a TASK-001.
    path = write_fleet(tmp_path, {"ezra": {}, "allegro": {}})
    write(tmp_path / "ezra" / "WORK-QUEUE.md", "- [ ] TASK-001 P1 PENDING ezra's first\n")
    write(tmp_path / "allegro" / "WORK-QUEUE.md", "- [ ] TASK-001 P1 PENDING allegro's first\n"
                                                  "- [ ] TASK-002 P1 PENDING allegro's second\n")
    assert [(c.wizard, c.id) for c in dispatch_run(path, ["ezra"]).report.claims] == [("ezra", "TASK-001")]
    fleet = load_fleet(path)
    q = load(fleet.wizard("allegro").queue)
    assert [t.id for t in ready_for(fleet, q, "allegro")] == ["TASK-001", "TASK-002"]
    assert [(c.wizard, c.id) for c in dispatch_run(path).report.claims] == [("allegro", "TASK-001")]
    assert [t.id for t in ready_for(fleet, load(fleet.wizard("allegro").queue), "allegro")] == ["TASK-002"]
