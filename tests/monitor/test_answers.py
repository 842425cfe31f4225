"""A task's answer is one command away (issue 16, point 4), through the CLI as a user types it:
'robe queue show ID' ends with the latest attempt (outcome, reason, duration, tokens) and the
first lines of the answer; 'robe answer ID [--attempt N] [--json]' prints it whole; 'robe
history ID' names the wizard and queue when several queues hold that ID."""

from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from robe.cli import cli

from ..fleet.model_stub import ModelStub
from ..support import read, settle


def robe(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run_once(folder) -> None:
    settle(folder)
    for step in (["dispatch", "--no-gateway"], ["execute", "--once"], ["monitor", "--bare-grace", "0"]):
        r = robe(*step)
        assert r.exit_code in (0, 1), r.output


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """ezra (echo) with its example queue, bob (echo) with TASK-001 of its own: two TASK-001s."""
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.delenv("ROBE_QUEUE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert robe("init", ".", "-w", "ezra", "--agent", "echo").exit_code == 0
    assert robe("wizard", "create", "bob", "--agent", "echo").exit_code == 0
    assert robe("wizard", "set", "ezra", "max_active=5").exit_code == 0
    body = "\n".join(f"Line {i} of what bob should count." for i in range(1, 13))
    assert robe("queue", "add", "Count to three", "-w", "bob", "--body", body).exit_code == 0
    run_once(tmp_path)
    return tmp_path


def test_queue_show_ends_with_the_latest_attempt_and_the_first_lines_of_its_answer(fleet):
    r = CliRunner().invoke(cli, ["queue", "show", "TASK-001"])
    assert r.exit_code == 1
    assert ("TASK-001 is in 2 queues (" + f"{fleet}/ezra/WORK-QUEUE.md:8 (ezra); {fleet}/bob/WORK-QUEUE.md:5 (bob)); "
            "say which with --wizard W (that wizard's queue) or -f FILE") in r.output
    r = robe("queue", "show", "TASK-001", "-w", "bob")
    assert r.exit_code == 0, r.output
    head, _, tail = r.stdout.partition("\nLatest attempt: ")
    assert "  where     bob/WORK-QUEUE.md:5 (section)\n  wizard    bob\n" in head
    lines = tail.splitlines()
    assert lines[0].startswith("1 of 1, by bob (echo): COMPLETE in ") and lines[0].endswith(" s")
    assert lines[1].startswith("  finished 20")
    answer = read(fleet / "bob" / "completed" / "archive" / "TASK-001.1.txt")
    assert lines[2] == f"Answer (the first 10 of {len(answer.rstrip().splitlines())} lines; all of it: robe answer " \
                       "TASK-001 -w bob):"
    assert lines[3:] == ["  " + line if line else "  " for line in answer.split("\n")[:10]]
    # From inside bob's house, the file there is the queue: no -w needed.
    os.chdir(fleet / "bob")
    assert robe("queue", "show", "TASK-001").stdout == r.stdout.replace("bob/WORK-QUEUE.md:5", "WORK-QUEUE.md:5") \
        .replace("robe answer TASK-001 -w bob", "robe answer TASK-001")


def test_answer_prints_it_whole_and_each_attempt_stays_readable(fleet):
    first = read(fleet / "bob" / "completed" / "archive" / "TASK-001.1.txt")
    assert robe("answer", "TASK-001", "-w", "bob").stdout == first
    data = json.loads(robe("answer", "TASK-001", "-w", "bob", "--json").stdout)
    assert (data["id"], data["wizard"], data["attempt"], data["status"], data["answer"]) == \
        ("TASK-001", "bob", 1, "COMPLETE", first)
    assert data["queue"] == str(fleet / "bob" / "WORK-QUEUE.md") and data["duration_s"] >= 0
    # Run it again: attempt 2 is the latest; attempt 1 is still there.
    assert robe("queue", "set", "TASK-001", "PENDING", "-f", "bob/WORK-QUEUE.md").exit_code == 0
    run_once(fleet)
    second = read(fleet / "bob" / "completed" / "archive" / "TASK-001.2.txt")
    assert "attempt 2" in second and robe("answer", "TASK-001", "-w", "bob").stdout == second
    assert robe("answer", "TASK-001", "-w", "bob", "--attempt", "1").stdout == first
    assert "Latest attempt: 2 of 2, by bob (echo): COMPLETE" in robe("queue", "show", "TASK-001", "-w", "bob").stdout
    r = CliRunner().invoke(cli, ["answer", "TASK-001", "-w", "bob", "--attempt", "3"])
    assert r.exit_code == 1 and "TASK-001 has no attempt 3 (attempts with an answer: 1, 2)" in r.output
    r = CliRunner().invoke(cli, ["answer", "TASK-003", "-w", "ezra"])
    assert r.exit_code == 1 and "TASK-003 has no answer yet (it is BLOCKED)" in r.output


def test_a_failed_attempt_shows_its_reason(fleet):
    fail = f"{sys.executable} -c 'import sys; sys.exit(\"the model is not loaded\")'"
    assert robe("wizard", "create", "flaky", "--agent", "command", "--command", fail).exit_code == 0
    assert robe("queue", "add", "Try it", "-w", "flaky").exit_code == 0
    run_once(fleet)
    out = robe("queue", "show", "TASK-001", "-w", "flaky").stdout
    assert "  status    PENDING\n" in out  # attempts are left: it runs again
    assert "\nLatest attempt: 1 of 1, by flaky (command): FAILED in " in out
    assert "\n  reason: the agent 'python" in out and "exited with code 1: the model is not loaded\n" in out
    data = json.loads(robe("queue", "show", "TASK-001", "-w", "flaky", "--json").stdout)
    assert data["latest"]["status"] == "FAILED" and "the model is not loaded" in data["latest"]["error"]


def test_tokens_and_cost_as_the_agent_reported_them(fleet):
    with ModelStub(reply="Three.") as stub:
        stub.usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.0021}
        assert robe("wizard", "create", "oracle", "--agent", "openai", "--base-url", stub.base_url, "--model",
                    "stub-model").exit_code == 0
        assert robe("queue", "add", "Count", "-w", "oracle").exit_code == 0
        run_once(fleet)
    out = robe("queue", "show", "TASK-001", "-w", "oracle").stdout
    assert "by oracle (openai): COMPLETE in " in out and ", 15 tokens (10 in, 5 out), $0.0021\n" in out
    assert "  spend     1 attempt: 10 tokens in, 5 out, $0.0021, " in out
    assert out.endswith("Answer (all of it: robe answer TASK-001 -w oracle):\n  Three.\n")


def test_history_names_the_wizard_and_queue_when_several_queues_hold_the_id(fleet):
    r = robe("history", "TASK-001")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert any(line.endswith("  [bob, bob/WORK-QUEUE.md]") or "[bob, bob/WORK-QUEUE.md]  " in line for line in lines)
    assert any("[ezra, ezra/WORK-QUEUE.md]" in line for line in lines)
    assert all("[ezra, ezra/WORK-QUEUE.md]" in line or "[bob, bob/WORK-QUEUE.md]" in line for line in lines)
    for line in lines:  # each line's wizard is the one that did it
        if "dispatch by dispatcher" in line:
            assert ("[bob," in line) != ("[ezra," in line)
    rows = json.loads(robe("history", "TASK-001", "--json").stdout)
    assert {(r["wizard"], os.path.relpath(r["queue"])) for r in rows} == {
        ("ezra", os.path.join("ezra", "WORK-QUEUE.md")), ("bob", os.path.join("bob", "WORK-QUEUE.md"))}
    # One queue holds TASK-002: its lines need no names.
    only = robe("history", "TASK-002").stdout
    assert only and "[" not in only


def test_the_python_api_reads_the_same_record(fleet):
    from robe import Fleet

    record = Fleet.load().task("TASK-001", wizard="bob")
    assert (record.found.wizard, record.latest.status, record.latest.attempt) == ("bob", "COMPLETE", 1)
    assert record.latest.answer("TASK-001") == robe("answer", "TASK-001", "-w", "bob").stdout
