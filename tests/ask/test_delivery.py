"""An ask's answer reaches its asker's inbox: the monitor files it when the ask's task is
COMPLETE (or FAILED for good), once, even across a crash; a waiting asker takes a COMPLETE
answer straight from the result; a wait gives up at its deadline with a clear message."""

from __future__ import annotations

import os
import sys
import time

import pytest

from robe import ask as asking
from robe.api import Fleet
from robe.ask import AskTimeout
from robe.house import House
from robe.inbox import Inbox
from robe.queue import Status, load

from .conftest import make_fleet


def _run(fleet, name: str) -> None:
    """One dispatch, execute and monitor of wizard ``name``, as cron would run them."""
    f = Fleet(fleet)
    f.dispatch([name], gateway=False)
    f.execute_once([name])
    report = f.monitor([name])
    assert not report.errors, report.errors


def test_the_answer_reaches_the_askers_inbox_once_and_is_read_once(fleet):
    ticket = asking.ask(fleet, "allegro", "What is the gateway's port?", asker="ezra")
    _run(fleet, "allegro")
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.COMPLETE
    box = Inbox(ticket.inbox)
    [msg] = box.messages()
    assert msg["id"] == f"allegro.{ticket.id}.1" and not msg["read"]
    assert {k: msg[k] for k in ("kind", "from", "to", "task", "status", "error", "attempt", "ask_task", "chain",
                                "question", "title")} == {
        "kind": "answer", "from": "allegro", "to": "ezra", "task": ticket.id, "status": "COMPLETE", "error": None,
        "attempt": 1, "ask_task": None, "chain": ["ezra"], "question": "What is the gateway's port?",
        "title": "Question from ezra: What is the gateway's port?"}
    assert msg["queue"] == os.path.realpath(fleet.wizard("allegro").queue)
    # The echo agent's answer repeats the prompt: the question came through whole.
    assert "echo agent of wizard allegro" in msg["answer"] and "> What is the gateway's port?" in msg["answer"]
    assert oct(os.stat(os.path.join(ticket.inbox, msg["id"] + ".json")).st_mode & 0o777) == "0o600"
    assert oct(os.stat(ticket.inbox).st_mode & 0o777) == "0o700"
    # Reading marks it read (moved to inbox/read/, kept); a second read finds nothing new.
    assert [m["id"] for m in asking.inbox(fleet, "ezra")] == [msg["id"]]
    assert asking.inbox(fleet, "ezra") == []
    assert [(m["id"], m["read"]) for m in asking.inbox(fleet, "ezra", include_read=True)] == [(msg["id"], True)]
    assert os.path.exists(os.path.join(ticket.inbox, "read", msg["id"] + ".json"))
    # Another monitor run delivers nothing again.
    Fleet(fleet).monitor(["allegro"])
    assert asking.inbox(fleet, "ezra", include_read=True, mark_read=False)[0]["id"] == msg["id"]
    assert len(asking.inbox(fleet, "ezra", include_read=True)) == 1


def test_a_person_reads_the_answer_in_the_fleets_inbox(fleet):
    ticket = asking.ask(fleet, "allegro", "Anything new?")
    _run(fleet, "allegro")
    [msg] = asking.inbox(fleet)
    assert msg["to"] == ticket.asker and msg["task"] == ticket.id
    assert os.path.exists(os.path.join(fleet.root, "inbox", "read", msg["id"] + ".json"))


def _failing_fleet(tmp_path, attempts: int):
    argv = [sys.executable, "-c", "import sys; print('the disk is full', file=sys.stderr); sys.exit(3)"]
    return make_fleet(tmp_path, ("ezra", "allegro"),
                      allegro={"agent": {"kind": "command", "argv": argv}, "max_attempts": attempts})


def test_a_failed_ask_is_answered_with_its_reason_once_no_attempts_are_left(tmp_path):
    fleet = _failing_fleet(tmp_path, attempts=2)
    ticket = asking.ask(fleet, "allegro", "Can you?", asker="ezra")
    _run(fleet, "allegro")
    # A failure with an attempt left is no answer yet: the task runs again.
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.PENDING
    assert asking.inbox(fleet, "ezra", mark_read=False) == []
    _run(fleet, "allegro")
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.FAILED
    [msg] = asking.inbox(fleet, "ezra")
    assert msg["status"] == "FAILED" and msg["attempt"] == 2
    assert "exited with code 3" in msg["error"] and "the disk is full" in msg["error"]


def test_a_monitor_stopped_after_delivering_delivers_once_when_run_again(fleet, monkeypatch):
    ticket = asking.ask(fleet, "allegro", "Once?", asker="ezra")
    f = Fleet(fleet)
    f.dispatch(["allegro"], gateway=False)
    f.execute_once(["allegro"])

    def broken(self, task_id, attempt, sync=True):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(House, "archive_claim", broken)
        report = f.monitor(["allegro"])
    assert report.errors and "could not archive" in report.errors[0]
    assert len(Inbox(ticket.inbox).messages()) == 1
    report = f.monitor(["allegro"])
    assert not report.errors
    assert [m["id"] for m in Inbox(ticket.inbox).messages(include_read=True)] == [f"allegro.{ticket.id}.1"]
    assert not os.path.exists(os.path.join(fleet.wizard("allegro").house, "work", f"{ticket.id}.active"))


def test_a_waiting_asker_takes_a_complete_answer_before_the_monitor_folds_it(fleet):
    ticket = asking.ask(fleet, "allegro", "Quick?", asker="ezra")
    f = Fleet(fleet)
    f.dispatch(["allegro"], gateway=False)
    f.execute_once(["allegro"])
    msg = asking.wait(fleet, ticket, 2.0)
    assert msg["status"] == "COMPLETE" and msg["read"] and "> Quick?" in msg["answer"]
    # Filed in the inbox as read; the monitor, folding it later, files nothing more.
    assert os.path.exists(os.path.join(ticket.inbox, "read", f"allegro.{ticket.id}.1.json"))
    assert not f.monitor(["allegro"]).errors
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.COMPLETE
    assert asking.inbox(fleet, "ezra") == []
    assert len(asking.inbox(fleet, "ezra", include_read=True)) == 1


def test_a_wait_gives_up_at_its_deadline_and_the_question_stays_asked(fleet):
    ticket = asking.ask(fleet, "allegro", "Anyone?", asker="ezra")
    t = time.monotonic()
    with pytest.raises(AskTimeout) as e:
        asking.wait(fleet, ticket, 0.3)
    assert 0.3 <= time.monotonic() - t < 2.0
    assert str(e.value) == (f"allegro has not answered {ticket.id} within 0.3 s; the question stays in allegro's "
                            f"queue and its answer will come to {ticket.inbox} (read it with 'robe inbox ezra')")
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.PENDING
    # The answer that comes later is in the inbox.
    _run(fleet, "allegro")
    assert [m["task"] for m in asking.inbox(fleet, "ezra")] == [ticket.id]


def test_the_python_api_asks_waits_and_reads_the_inbox(fleet):
    f = Fleet(fleet)
    ticket = f.ask("allegro", "Through the API?", asker="ezra")
    assert ticket.id == "TASK-001" and ticket.wizard == "allegro"
    f.dispatch(["allegro"], gateway=False)
    f.execute_once(["allegro"])
    f.monitor(["allegro"])
    [msg] = f.inbox("ezra")
    assert msg["task"] == ticket.id and "> Through the API?" in msg["answer"]
    with pytest.raises(AskTimeout, match="bob has not answered TASK-001 within 0.2 s"):
        f.ask("bob", "And now?", asker="ezra", wait=0.2)


def test_an_ask_reaped_with_no_attempts_left_is_answered_failed(tmp_path):
    fleet = make_fleet(tmp_path, ("ezra", "allegro"), allegro={"max_attempts": 1})
    ticket = asking.ask(fleet, "allegro", "Still there?", asker="ezra")
    f = Fleet(fleet)
    f.dispatch(["allegro"], gateway=False)
    # Nobody ran it and no executor lives: an hour later its 600 s lease is long over.
    claim = os.path.join(fleet.wizard("allegro").house, "work", f"{ticket.id}.active")
    old = time.time() - 3600
    os.utime(claim, (old, old))
    assert not f.monitor(["allegro"]).errors
    assert load(fleet.wizard("allegro").queue).get(ticket.id).status is Status.FAILED
    [msg] = asking.inbox(fleet, "ezra")
    assert msg["status"] == "FAILED" and msg["answer"] == "" and "lease of 600 s ran out" in msg["error"]
