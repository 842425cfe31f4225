"""Cancelling without robe run (issue 16, point 5): a person sets a running task to BLOCKED,
FAILED or back to PENDING in the file, or runs robe cancel. With no executor alive, the monitor
releases the claim and leaves the person's status; a cancelled result is archived, counted as
no failure, and the person's status stays."""

from __future__ import annotations

import os

from robe.house import House

from .helpers import read, statuses, write, write_result


def test_a_person_s_blocked_with_no_executor_releases_the_claim(one_wizard):
    s = one_wizard
    s.dispatch()
    write(s.qpath, read(s.qpath).replace("- Status: IN_PROGRESS", "- Status: BLOCKED", 1))
    rep = s.monitor()
    assert [t.kind for t in rep.transitions] == ["cancelled"]
    t = rep.transitions[0]
    assert t.task == "TASK-001" and "BLOCKED stays" in t.detail
    h = House(str(s.house()), "ezra")
    assert not os.path.exists(h.claim_path("TASK-001"))
    assert statuses(s.qpath)["TASK-001"] == "BLOCKED"


def test_a_stale_save_that_says_pending_again_runs_the_task_as_its_next_attempt(one_wizard):
    s = one_wizard
    s.dispatch()
    write(s.qpath, read(s.qpath).replace("IN_PROGRESS", "PENDING"))  # an editor's stale buffer
    s.monitor()
    assert set(statuses(s.qpath).values()) == {"PENDING"}
    rep = s.dispatch()
    assert sorted((c.id, c.attempt) for c in rep.claims) == [("TASK-001", 2), ("TASK-002", 2), ("TASK-003", 2)]


def test_a_cancelled_result_is_archived_and_the_person_s_status_stays(one_wizard):
    s = one_wizard
    s.dispatch()
    write(s.qpath, read(s.qpath).replace("- Status: IN_PROGRESS", "- Status: FAILED", 1))
    write_result(s.house(), "TASK-001", status="CANCELLED", error="set to FAILED in the queue")
    rep = s.monitor()
    kinds = {t.task: t.kind for t in rep.transitions}
    assert kinds == {"TASK-001": "cancelled"}
    h = House(str(s.house()), "ezra")
    assert os.path.exists(os.path.join(h.completed, "archive", "TASK-001.1.json"))
    assert statuses(s.qpath) == {"TASK-001": "FAILED", "TASK-002": "IN_PROGRESS", "TASK-003": "IN_PROGRESS"}
    # no failure counted: set to PENDING again, it runs as attempt 2 of max_attempts
    write(s.qpath, read(s.qpath).replace("- Status: FAILED", "- Status: PENDING", 1))
    assert [(c.id, c.attempt) for c in s.dispatch().claims] == [("TASK-001", 2)]


def test_the_executor_stops_a_claim_robe_cancel_asked_for_at_its_rescan(one_wizard, tmp_path):
    """The cron path: robe cancel writes work/<ID>.cancel; 'robe execute --once' of a claim
    with a cancel request writes a CANCELLED result without starting the agent."""
    from robe.cancel import cancel
    from robe.execute import Executor

    s = one_wizard
    s.dispatch(max_claims=1)
    done = cancel(s.fleet(), "TASK-001", reason="not needed")
    assert (done.before, done.after, done.wizard) == ("IN_PROGRESS", "BLOCKED", "ezra")
    outcomes = Executor(list(s.fleet().wizards)).run(once=True)
    assert [(o["id"], o["status"], o["error"]) for o in outcomes] == [("TASK-001", "CANCELLED", "not needed")]
    s.monitor()
    assert statuses(s.qpath)["TASK-001"] == "BLOCKED"
    assert not os.path.exists(House(str(s.house()), "ezra").claim_path("TASK-001"))
