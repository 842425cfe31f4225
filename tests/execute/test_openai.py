"""The openai agent against a real HTTP server on 127.0.0.1 (the fleet tests' model stub)."""

from __future__ import annotations

import socket
from pathlib import Path

from robe.execute import Executor, Options

from .conftest import answer, drop_claim, outcome
from .stub import Stub

FAST = Options(scan_interval=0.2, heartbeat_interval=0.2, retries=3, backoff=0.01)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_openai_agent_sends_soul_and_task_and_saves_the_reply(make_fleet, monkeypatch):
    monkeypatch.setenv("ROBE_TEST_KEY", "sk-test-0123456789abcdef")
    with Stub(reply="The logs are rotated.") as stub:
        fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": stub.base_url, "model": "qwen2.5:1.5b",
                                           "api_key_env": "ROBE_TEST_KEY"}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001", "Rotate the gateway logs")
        Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "COMPLETE" and o["agent"] == "openai" and o["http_status"] == 200
    assert answer(w, "TASK-001") == "The logs are rotated."
    (req,) = stub.requests
    assert req["path"] == "/v1/chat/completions"
    body = req["body"]
    assert body["model"] == "qwen2.5:1.5b"
    system, user = body["messages"]
    assert system == {"role": "system", "content": Path(w.soul_file).read_text().strip()}
    assert user["role"] == "user" and user["content"].startswith("TASK-001: Rotate the gateway logs")
    assert "Task ID: TASK-001" in user["content"]
    assert stub.headers[0]["Authorization"] == "Bearer sk-test-0123456789abcdef"


def test_5xx_is_retried_with_backoff_then_completes(make_fleet):
    with Stub(reply="ok", statuses=[503, 502]) as stub:
        fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    assert outcome(w, "TASK-001")["status"] == "COMPLETE"
    assert len(stub.requests) == 3
    assert "Authorization" not in stub.headers[0]  # no key configured: none sent (Ollama)


def test_rate_limited_to_the_end_is_retry_not_failed(make_fleet):
    with Stub(statuses=[429] * 10) as stub:
        fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "RETRY" and "HTTP 429" in o["error"]
    assert len(stub.requests) == 4  # the first try and three retries


def test_a_refused_key_fails_at_once_with_a_hint(make_fleet):
    with Stub(statuses=[401]) as stub:
        fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": stub.base_url, "model": "m"}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED" and o["error"].startswith("HTTP 401") and "check the key" in o["error"]
    assert len(stub.requests) == 1


def test_an_unreachable_server_fails_after_the_retries_with_the_reason(make_fleet):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": url, "model": "m"}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED"
    assert o["error"].startswith(f"cannot reach {url}/chat/completions") and "gave up after 4 tries" in o["error"]
    assert "refused" in o["error"].lower()


def test_a_named_key_variable_that_is_not_set_fails_with_the_fix(make_fleet, monkeypatch):
    monkeypatch.delenv("ROBE_NO_SUCH_KEY", raising=False)
    fleet = make_fleet(ezra={"agent": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                       "api_key_env": "ROBE_NO_SUCH_KEY"}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    Executor([w], FAST).run(once=True)
    assert "ROBE_NO_SUCH_KEY" in outcome(w, "TASK-001")["error"]


def test_the_wizards_own_gateway_gets_the_key_from_the_homes_env(make_fleet):
    from robe.fleet.homes import read_env

    port = _closed_port()
    fleet = make_fleet(ezra={"port": port, "agent": {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                                     "model": "hermes-agent"}})
    w = fleet.wizard("ezra")
    key = read_env(w.env_file)["API_SERVER_KEY"]
    assert len(key) >= 16
    with Stub(reply="from the gateway", port=port) as stub:
        drop_claim(w, "TASK-001")
        Executor([w], FAST).run(once=True)
    assert outcome(w, "TASK-001")["status"] == "COMPLETE"
    assert stub.headers[0]["Authorization"] == f"Bearer {key}"


def test_a_server_that_never_answers_is_cut_at_the_wizards_timeout(make_fleet):
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        fleet = make_fleet(ezra={"timeout": 1, "agent": {"kind": "openai", "base_url": url, "model": "m"}})
        w = fleet.wizard("ezra")
        drop_claim(w, "TASK-001")
        t = time.monotonic()
        Executor([w], FAST).run(once=True)
        assert time.monotonic() - t < 4
    finally:
        silent.close()
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED" and o["error"].startswith("timed out after 1 s")
