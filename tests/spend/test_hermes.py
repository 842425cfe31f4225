"""Spend from the real Hermes (hermes-agent in its own virtualenv), run against the loopback
model stub: the tokens Hermes counts in its ``--usage-file`` reach the result."""

from __future__ import annotations

import pytest

from robe.execute import Executor, Options

from ..execute.conftest import drop_claim, outcome
from ..execute.stub import Stub
from ..execute.test_hermes import hermes_env, hermes_wizard  # noqa: F401  (hermes_env is a fixture)

pytestmark = pytest.mark.hermes

FAST = Options(scan_interval=0.5, heartbeat_interval=1.0, retries=2, backoff=0.5)


def test_hermes_usage_file_becomes_the_results_spend(fleet_files, hermes_env):  # noqa: F811
    with Stub(reply="Rotated. -- stub model") as stub:
        stub.usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}
        fleet = fleet_files({"hermy": hermes_wizard(stub.base_url, hermes_env)})
        w = fleet.wizard("hermy")
        drop_claim(w, "TASK-004", "Rotate the gateway logs")
        Executor([w], FAST).run(once=True)
        calls = sum(1 for r in stub.requests if r["path"].endswith("/chat/completions"))
    o = outcome(w, "TASK-004")
    assert o["status"] == "COMPLETE", o
    usage, spend = o["usage"], o["spend"]
    # What Hermes wrote in its usage file (kept in the result as "usage") is the spend, and it is
    # what the model server reported for each of Hermes' calls.
    assert usage["api_calls"] == calls >= 1
    assert spend["input_tokens"] == usage["input_tokens"] == 1234 * calls
    assert spend["output_tokens"] == usage["output_tokens"] == 56 * calls
    assert spend["total_tokens"] == usage["total_tokens"] == 1290 * calls
    assert spend["reported_by"] == "hermes usage file"
    # Hermes has no price for a custom local model: it says so, and robe records no cost (not $0).
    assert usage["cost_status"] == "unknown" and spend["cost_usd"] is None
    assert spend["seconds"] == o["duration_s"] > 0


def test_a_failed_hermes_turn_still_records_what_its_usage_file_says(fleet_files, hermes_env):  # noqa: F811
    stub = Stub()
    base_url = stub.base_url
    stub.server.server_close()  # the model is down
    fleet = fleet_files({"hermy": hermes_wizard(base_url, hermes_env)})
    w = fleet.wizard("hermy")
    drop_claim(w, "TASK-005", "Summarise the day")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-005")
    assert o["status"] == "FAILED" and o["error"].startswith("hermes failed: ")
    # Hermes writes its usage file on failure too, and robe reads it: here it made one call that
    # never reached the model, so it counts no tokens; the attempt's seconds are on record.
    assert o["usage"]["api_calls"] == 1 and o["usage"]["total_tokens"] is None
    assert o["spend"]["total_tokens"] is None and o["spend"]["reported_by"] is None
    assert o["spend"]["seconds"] == o["duration_s"] > 0
