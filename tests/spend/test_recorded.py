"""Spend is part of every result: tokens in and out and cost where the agent reports them,
agent seconds always (docs/contracts.md, the result's ``spend``)."""

from __future__ import annotations

import sys
import time

from robe.execute import Executor, Options

from ..execute.conftest import drop_claim, outcome
from ..execute.stub import Stub

FAST = Options(scan_interval=0.2, heartbeat_interval=0.2, retries=1, backoff=0.01)


def test_an_openai_answer_records_the_usage_of_the_response(fleet_files):
    with Stub(reply="Done.") as stub:
        stub.usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}
        fleet = fleet_files({"ezra": {"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"}}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    spend = outcome(w, "TASK-001")["spend"]
    assert spend["input_tokens"] == 1234 and spend["output_tokens"] == 56 and spend["total_tokens"] == 1290
    assert spend["cost_usd"] is None  # the server reported no cost: none is made up
    assert spend["reported_by"] == "openai usage"
    assert 0 < spend["seconds"] == outcome(w, "TASK-001")["duration_s"]


def test_a_cost_in_the_response_usage_is_recorded(fleet_files):
    # OpenRouter puts the cost of the request in usage.cost.
    with Stub(reply="Done.") as stub:
        stub.usage = {"prompt_tokens": 194, "completion_tokens": 2, "total_tokens": 196, "cost": 0.0095}
        fleet = fleet_files({"ezra": {"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"}}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    spend = outcome(w, "TASK-001")["spend"]
    assert (spend["total_tokens"], spend["cost_usd"]) == (196, 0.0095)


def test_an_agent_that_reports_nothing_still_records_its_seconds(fleet_files, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time; time.sleep(0.3); print('ok')\n")
    fleet = fleet_files({"echo": {"agent": "echo"},
                         "cmd": {"agent": {"kind": "command", "argv": [sys.executable, str(script)]}}})
    for name in ("echo", "cmd"):
        drop_claim(fleet.wizard(name), "TASK-001")
    Executor(list(fleet.wizards), FAST).run(once=True)
    echo, cmd = outcome(fleet.wizard("echo"), "TASK-001")["spend"], outcome(fleet.wizard("cmd"), "TASK-001")["spend"]
    for s in (echo, cmd):
        assert s["input_tokens"] is None and s["total_tokens"] is None and s["cost_usd"] is None
        assert s["reported_by"] is None
    assert echo["seconds"] >= 0 and cmd["seconds"] >= 0.3


def test_a_command_agent_reports_its_usage_in_robe_usage_file(fleet_files, usage_agent):
    fleet = fleet_files({"ezra": {"agent": usage_agent(tokens=700, cost=0.125, code=1), "max_attempts": 1}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED"  # a failed attempt's spend counts too
    assert o["spend"] == {"input_tokens": 600, "output_tokens": 100, "total_tokens": 700, "cost_usd": 0.125,
                          "reported_by": "agent usage file", "seconds": o["duration_s"]}


STREAMING_AGENT = """\
import json, os, time
# reports its usage as it goes: 1,000 more tokens every 0.2 s, for a minute
for i in range(1, 300):
    tmp = os.environ["ROBE_USAGE_FILE"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"prompt_tokens": 1000 * i, "completion_tokens": 0}, f)
    os.replace(tmp, os.environ["ROBE_USAGE_FILE"])
    time.sleep(0.2)
print("finished")
"""


def test_an_agent_reporting_usage_as_it_goes_is_stopped_past_tokens_per_task(fleet_files, tmp_path):
    script = tmp_path / "streaming.py"
    script.write_text(STREAMING_AGENT)
    fleet = fleet_files({"ezra": {"agent": {"kind": "command", "argv": [sys.executable, str(script)]},
                                  "budget": {"tokens_per_task": 2500}}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    t0 = time.monotonic()
    Executor([w], FAST).run(once=True)
    took = time.monotonic() - t0
    o = outcome(w, "TASK-001")
    assert took < 20, took  # not the minute it would have run
    assert o["status"] == "FAILED"
    assert o["error"].startswith("stopped: the agent reported 3,000 tokens, over the tokens_per_task budget of 2,500")
    assert o["spend"]["total_tokens"] >= 3000 and o["spend"]["over_task_budget"] is True


def test_without_tokens_per_task_the_same_agent_is_not_stopped_early(fleet_files, tmp_path):
    script = tmp_path / "short.py"
    script.write_text(STREAMING_AGENT.replace("range(1, 300)", "range(1, 6)"))
    fleet = fleet_files({"ezra": {"agent": {"kind": "command", "argv": [sys.executable, str(script)]}}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "COMPLETE" and o["spend"]["total_tokens"] == 5000
    assert "over_task_budget" not in o["spend"]


def test_a_reply_over_tokens_per_task_is_marked_but_kept(fleet_files):
    # A non-streaming answer arrives whole: robe cannot stop it, only say it went over.
    with Stub(reply="Long answer.") as stub:
        stub.usage = {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200}
        fleet = fleet_files({"ezra": {"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"},
                                      "budget": {"tokens_per_task": 1000}}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "COMPLETE" and o["spend"]["over_task_budget"] is True


def test_the_three_usage_reports_read_into_one_shape():
    from robe.execute.usage import tokens_and_cost

    # Hermes' usage file for a priced model (the fields _write_usage_file writes)
    hermes = {"estimated_cost_usd": 0.788, "cost_status": "estimated", "cost_source": "models_api",
              "input_tokens": 5000, "output_tokens": 120, "cache_read_tokens": 0, "total_tokens": 5120,
              "api_calls": 2, "completed": True, "failed": False}
    assert tokens_and_cost(hermes) == {"input_tokens": 5000, "output_tokens": 120, "total_tokens": 5120,
                                       "cost_usd": 0.788}
    # ... and for a model it has no price for: Hermes writes 0.0 and says "unknown"
    assert tokens_and_cost(dict(hermes, estimated_cost_usd=0.0, cost_status="unknown"))["cost_usd"] is None
    # an OpenAI-compatible usage without total_tokens, and junk
    assert tokens_and_cost({"prompt_tokens": 7, "completion_tokens": 3}) == {
        "input_tokens": 7, "output_tokens": 3, "total_tokens": 10, "cost_usd": None}
    assert tokens_and_cost({"prompt_tokens": -1, "completion_tokens": "3", "cost": True}) == {
        "input_tokens": None, "output_tokens": None, "total_tokens": None, "cost_usd": None}
