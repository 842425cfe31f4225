"""robe ask and robe inbox on the command line, and robe ask answered under a real robe run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from robe import ask as asking
from robe.api import Fleet
from robe.cli import cli

from .conftest import queue_text

ROBE = os.path.join(os.path.dirname(sys.executable), "robe")


def robe(fleet, *args, input=None, env=None):
    return CliRunner().invoke(cli, [*args, "--fleet", fleet.path], input=input, env=env, catch_exceptions=False)


def test_robe_ask_says_where_the_question_went_and_where_the_answer_will_come(fleet):
    r = robe(fleet, "ask", "allegro", "Which port?", "--from", "ezra")
    assert r.exit_code == 0, r.output
    inbox = os.path.join(fleet.wizard("ezra").house, "inbox")
    assert r.output == (f"Asked allegro: TASK-001 in {os.path.realpath(fleet.wizard('allegro').queue)}; the answer "
                        f"will come to {inbox} (robe inbox ezra).\n")
    assert "- Asked-By: ezra\n" in queue_text(fleet, "allegro")


def test_robe_ask_reads_the_question_from_stdin_and_prints_json(fleet):
    r = robe(fleet, "ask", "allegro", "-", "--from", "ezra", "-p", "p0", "--json", input="From stdin?\nTwo lines.")
    assert r.exit_code == 0, r.output
    asked = json.loads(r.output)["asked"]
    assert (asked["id"], asked["wizard"], asked["asker"], asked["priority"]) == ("TASK-001", "allegro", "ezra", "P0")
    assert "> From stdin?\n> Two lines.\n" in queue_text(fleet, "allegro")


def test_an_agent_asks_as_its_wizard_from_its_task(fleet):
    # A command agent runs with ROBE_WIZARD and ROBE_TASK_ID set: its robe ask knows both.
    first = asking.ask(fleet, "allegro", "Start?", asker="ezra")
    Fleet(fleet).dispatch(["allegro"], gateway=False)
    r = robe(fleet, "ask", "bob", "Next?", env={"ROBE_WIZARD": "allegro", "ROBE_TASK_ID": first.id})
    assert r.exit_code == 0, r.output
    text = queue_text(fleet, "bob")
    assert "- Asked-By: allegro\n- Ask-Chain: ezra, allegro\n- Ask-Task: TASK-001\n" in text
    r = robe(fleet, "ask", "ezra", "Back?", env={"ROBE_WIZARD": "allegro", "ROBE_TASK_ID": first.id})
    assert r.exit_code == 1
    assert "Error: ezra is already in this chain of questions (ezra -> allegro -> ezra)" in r.output


def test_a_refused_question_exits_1_with_one_sentence(fleet):
    r = robe(fleet, "ask", "ezra", "Me?", "--from", "ezra")
    assert (r.exit_code, r.output) == (1, "Error: ezra cannot ask itself; answer the question in this task, "
                                          "or ask another wizard\n")
    r = robe(fleet, "ask", "nobody", "Hi?")
    assert r.exit_code == 1 and "there is no wizard named 'nobody'" in r.output


def test_a_wait_with_nobody_to_answer_exits_1_at_its_deadline(fleet):
    t = time.monotonic()
    r = robe(fleet, "ask", "allegro", "Anyone there?", "--from", "ezra", "--wait", "0.4")
    assert r.exit_code == 1 and 0.4 <= time.monotonic() - t < 3
    assert r.output.endswith("Error: allegro has not answered TASK-001 within 0.4 s; the question stays in allegro's "
                             f"queue and its answer will come to {fleet.wizard('ezra').house}/inbox (read it with "
                             "'robe inbox ezra')\n")


def test_robe_inbox_shows_each_answer_whole_then_marks_it_read(fleet):
    t = asking.ask(fleet, "allegro", "What is 6 x 7?", asker="ezra")
    f = Fleet(fleet)
    f.dispatch(["allegro"], gateway=False)
    f.execute_once(["allegro"])
    f.monitor(["allegro"])
    r = robe(fleet, "inbox", "ezra")
    assert r.exit_code == 0, r.output
    lines = r.output.split("\n")
    assert re.fullmatch(rf"--- allegro answered {t.id} \(COMPLETE\) at 20\d\d-\d\d-\d\dT[0-9:.]+Z", lines[0])
    assert lines[1] == "    Question from ezra: What is 6 x 7?"
    assert lines[2] == f"{t.id}: Question from ezra: What is 6 x 7?" and "> What is 6 x 7?" in r.output
    r = robe(fleet, "inbox", "ezra")
    assert r.output == f"No new messages in {fleet.wizard('ezra').house}/inbox.\n"
    r = robe(fleet, "inbox", "ezra", "--all", "--json")
    [msg] = json.loads(r.output)
    assert msg["read"] is True and msg["task"] == t.id
    assert robe(fleet, "inbox").output == f"No new messages in {fleet.root}/inbox.\n"


def test_robe_ask_under_robe_run_prints_the_answer_within_a_second(fleet, tmp_path):
    env = dict(os.environ, ROBE_FLEET=fleet.path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's robe: its bytecode cached between runs
    log = open(tmp_path / "run.log", "wb")
    run = subprocess.Popen([ROBE, "run", "-v"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                           cwd=str(tmp_path), start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(fleet.wizard("allegro").executor_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)  # robe run's first dispatch and monitor of every wizard are over
        took = [_ask_and_wait(fleet, env, f"What is {n} + {n}?") for n in range(3)]
    finally:
        run.terminate()
        run.wait(30)
        log.close()
    print("robe ask under robe run, seconds from question to answer:", took)
    # From the question written (robe ask says "Asked ...") to the answer printed.
    assert max(took) < 1.0, (took, (tmp_path / "run.log").read_text(errors="replace")[-3000:])


def _ask_and_wait(fleet, env, question: str) -> float:
    """Run robe ask --wait; seconds from its "Asked ..." line (the question is written) to the answer."""
    asked = {}
    with subprocess.Popen([ROBE, "ask", "allegro", question, "--from", "ezra", "--wait", "10"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        def watch():
            line = p.stderr.readline()
            asked["at"], asked["line"] = time.monotonic(), line.decode()
        watcher = threading.Thread(target=watch)
        watcher.start()
        first = p.stdout.readline()
        printed = time.monotonic()
        answer = (first + p.stdout.read()).decode()
        assert p.wait(10) == 0
        watcher.join(5)
    assert asked["line"].startswith("Asked allegro: TASK-"), asked
    assert answer.startswith("TASK-") and f"> {question}" in answer and "echo agent of wizard allegro" in answer
    time.sleep(1.5)  # let robe run fold it, so each question starts from a quiet fleet
    return printed - asked["at"]
