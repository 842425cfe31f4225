"""No deadlock between askers: an ask is dispatched even when its target's slots are all held
by tasks that wait on asks, and the executor runs it even when its workers are busy."""

from __future__ import annotations

import os
import sys
import threading
import time

from robe import ask as asking
from robe.api import Fleet
from robe.execute import Executor, Options
from robe.queue import Status, load

from .conftest import claim_path, make_fleet

PLAIN = ("# Queue\n\n"
         "### TASK-001: Plan the release\n- Status: PENDING\n\nPlan it.\n\n")


def _write(fleet, name: str, text: str) -> None:
    with open(fleet.wizard(name).queue, "w", encoding="utf-8") as f:
        f.write(text)


def test_two_wizards_asking_each_other_from_full_slots_both_get_their_answers(fleet):
    f = Fleet(fleet)
    for name in ("ezra", "allegro"):
        _write(fleet, name, PLAIN)
    # Both take their one task (max_active 1): every slot is held.
    assert [c.id for c in f.dispatch(["ezra", "allegro"], gateway=False).claims] == ["TASK-001", "TASK-001"]
    # From inside those tasks each asks the other: A waits on B while B waits on A.
    to_allegro = asking.ask(fleet, "allegro", "Which day?", asker="ezra", task_id="TASK-001")
    to_ezra = asking.ask(fleet, "ezra", "Which version?", asker="allegro", task_id="TASK-001")
    # Ordinary work that arrives meanwhile, even urgent, waits for a free slot.
    for name in ("ezra", "allegro"):
        f.queue(name).add("Urgent but ordinary", priority="P0")
    notes: list[str] = []
    report = f.dispatch(["ezra", "allegro"], gateway=False, note=notes.append)
    assert sorted((c.wizard, c.id) for c in report.claims) == [("allegro", to_allegro.id), ("ezra", to_ezra.id)]
    assert "ezra: at capacity, but 1 of its claims wait on answers: questions to it still run" in notes
    for name in ("ezra", "allegro"):
        assert load(fleet.wizard(name).queue).get("TASK-003").status is Status.PENDING
    # The executors run the questions and the monitor files the answers: each asker gets its own.
    f.execute_once(["ezra", "allegro"])
    f.monitor(["ezra", "allegro"])
    assert [m["task"] for m in asking.inbox(fleet, "ezra")] == [to_allegro.id]
    assert [m["task"] for m in asking.inbox(fleet, "allegro")] == [to_ezra.id]


def test_a_question_from_someone_who_is_not_waiting_takes_no_lent_slot(fleet):
    f = Fleet(fleet)
    _write(fleet, "ezra", PLAIN)
    assert [c.id for c in f.dispatch(["ezra"], gateway=False).claims] == ["TASK-001"]
    # ezra's running task asked nobody, so it lends nothing: a person's question waits its turn.
    ticket = asking.ask(fleet, "ezra", "When is it ready?")
    notes: list[str] = []
    assert f.dispatch(["ezra"], gateway=False, note=notes.append).claims == []
    assert "ezra: at capacity (1 live claim, max_active 1); 1 ready task wait" in notes
    assert not os.path.exists(claim_path(fleet, "ezra", ticket.id))


def test_an_answered_question_lends_no_slot_any_more(fleet):
    f = Fleet(fleet)
    _write(fleet, "ezra", PLAIN)
    f.dispatch(["ezra"], gateway=False)
    asked = asking.ask(fleet, "allegro", "Ready?", asker="ezra", task_id="TASK-001")
    f.queue("allegro").set_status(asked.id, Status.COMPLETE)  # answered: ezra's task waits on nothing
    ticket = asking.ask(fleet, "ezra", "And now?", asker="bob")
    assert f.dispatch(["ezra"], gateway=False).claims == []
    assert not os.path.exists(claim_path(fleet, "ezra", ticket.id))


AGENT = """\
import sys, time
title = sys.argv[1]
if title.startswith("Question"):
    print("the answer to", title)
else:
    time.sleep(float(sys.argv[2]))
    print("done with", title)
"""


def test_the_executor_runs_a_question_beside_a_worker_that_is_busy(tmp_path):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    argv = [sys.executable, str(script), "{title}", "30"]
    fleet = make_fleet(tmp_path, ("ezra", "allegro"),
                       ezra={"agent": {"kind": "command", "argv": argv}, "max_active": 3, "max_parallel": 1})
    f = Fleet(fleet)
    _write(fleet, "ezra", PLAIN + "### TASK-002: Another long one\n- Status: PENDING\n\nAlso slow.\n\n")
    assert [c.id for c in f.dispatch(["ezra"], gateway=False).claims] == ["TASK-001", "TASK-002"]
    executor = Executor([fleet.wizard("ezra")], Options(scan_interval=0.2, heartbeat_interval=0.5,
                                                        shutdown_grace=0.2, grace=0.2))
    thread = threading.Thread(target=executor.run, daemon=True)
    thread.start()
    try:
        house = os.path.join(fleet.wizard("ezra").house, "completed")
        # The one worker is busy with TASK-001 (30 s); TASK-002 waits behind it.
        ticket = asking.ask(fleet, "ezra", "What is the plan?", asker="allegro")
        assert [c.id for c in f.dispatch(["ezra"], gateway=False).claims] == [ticket.id]
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(house, f"{ticket.id}.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(os.path.join(house, f"{ticket.id}.txt")) as fh:
            assert fh.read() == "the answer to Question from allegro: What is the plan?\n"
        assert not os.path.exists(os.path.join(house, "TASK-001.json"))
        assert not os.path.exists(os.path.join(house, "TASK-002.json"))
    finally:
        executor.request_stop()
        thread.join(20)
    assert not thread.is_alive()
