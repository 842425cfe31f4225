"""Safe by default: loopback unless a token is given, the token on every request, actions only
from the dashboard's own pages (Origin and a per-session CSRF token), loopback Host names only,
and no request that makes robe read or write outside the fleet. Against the real server."""

from __future__ import annotations

import os
import subprocess

import pytest

from robe.dashboard.security import DashboardError, Guard, is_loopback, parse_address

from ..support import free_port, read
from .conftest import ROBE, Client, Feed, feed_status, listening, robe_env, write_fleet, write_queue

TOKEN = "s3cret-token-for-the-tests"
QUEUE = "- [ ] TASK-1 P1 FAILED Flaky one\n- [ ] TASK-2 P2 PENDING Next one\n"


@pytest.fixture
def fleet(tmp_path):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    write_queue(fleet.wizard("ezra").queue, QUEUE)
    return fleet


def test_addresses_and_loopback():
    assert parse_address("8650") == ("127.0.0.1", 8650)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:8650") == ("::1", 8650)
    for bad in ("", "host:", "host:99999", "[::1]8650", ":8650"):
        with pytest.raises(DashboardError):
            parse_address(bad)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""))


def test_guard_rules():
    with pytest.raises(DashboardError, match="will not listen on 0.0.0.0 without a token"):
        Guard("0.0.0.0", 8650)
    with pytest.raises(DashboardError, match="use 16 or more"):
        Guard("0.0.0.0", 8650, "short")
    g = Guard("127.0.0.1", 8650)
    assert g.host_allowed("127.0.0.1:8650") and g.host_allowed("localhost:8650") and g.host_allowed("[::1]:8650")
    assert not g.host_allowed("evil.example:8650") and not g.host_allowed("")
    session = g.new_session()
    ok = dict(host="127.0.0.1:8650", origin="http://127.0.0.1:8650", session=session, csrf=g.csrf_for(session))
    assert g.action_refusal(**ok) is None
    assert "another site" in g.action_refusal(**{**ok, "origin": "http://evil.example"})
    assert "no Origin" in g.action_refusal(**{**ok, "origin": None})
    assert "session token" in g.action_refusal(**{**ok, "csrf": g.csrf_for(g.new_session())})
    assert "read-only" in Guard("127.0.0.1", 8650, read_only=True).action_refusal(**ok)


def test_a_non_loopback_address_without_a_token_is_refused(fleet, tmp_path):
    port = free_port()
    r = subprocess.run([ROBE, "dashboard", "--fleet", fleet.path, "--host", "0.0.0.0", "--port", str(port)],
                       capture_output=True, text=True, timeout=60, env=robe_env())
    assert r.returncode == 1
    assert "will not listen on 0.0.0.0 without a token" in r.stderr and "ROBE_DASHBOARD_TOKEN" in r.stderr
    assert not listening(port)
    # robe run --dashboard refuses before it starts the engine: no executor, nothing dispatched.
    r = subprocess.run([ROBE, "run", "--fleet", fleet.path, "--dashboard", f"0.0.0.0:{port}"],
                       capture_output=True, text=True, timeout=60, env=robe_env())
    assert r.returncode == 1 and "without a token" in r.stderr
    assert not os.path.exists(fleet.wizard("ezra").executor_file)
    assert read(fleet.wizard("ezra").queue) == QUEUE
    # A token too short to be one is refused as well.
    r = subprocess.run([ROBE, "dashboard", "--fleet", fleet.path, "--host", "0.0.0.0", "--port", str(port)],
                       capture_output=True, text=True, timeout=60, env=robe_env(ROBE_DASHBOARD_TOKEN="abc"))
    assert r.returncode == 1 and "use 16 or more" in r.stderr


def test_with_a_token_every_request_and_action_needs_it(fleet, procs):
    port = free_port()
    procs([ROBE, "dashboard", "--fleet", fleet.path, "--host", "0.0.0.0", "--port", str(port)],
          env=robe_env(ROBE_DASHBOARD_TOKEN=TOKEN), port=port)
    anon = Client(f"http://127.0.0.1:{port}")
    for path in ("/", "/board", "/task/ezra/TASK-1", "/live", "/charts/burndown.svg", "/static/dashboard.js"):
        status, _, text = anon.get(path)
        assert status == 401 and "needs its token" in text, path
    assert anon.get("/?token=not-the-token-at-all")[0] == 401
    assert feed_status(anon.base) == 403  # nor the live feed
    # An action without the token is refused and changes nothing.
    status, _ = anon.act({"action": "retry", "queue": "ezra", "task": "TASK-1", "expect": "FAILED"}, csrf="x")
    assert status == 401
    assert read(fleet.wizard("ezra").queue) == QUEUE

    # ?token= once: a cookie (not the token itself) and a redirect to the address without it.
    user = Client(f"http://127.0.0.1:{port}")
    status, headers, _ = user.get(f"/board?token={TOKEN}&wizard=ezra")
    assert status == 303 and headers["Location"] == "/board?wizard=ezra"
    assert user.cookies["robe_auth"] and TOKEN not in user.cookies["robe_auth"]
    assert user.get("/board?wizard=ezra")[0] == 200
    feed = Feed(user.base, cookies=user.cookies)
    assert feed.status == 101 and "hello" in feed.next()
    feed.close()
    status, answer = user.act({"action": "retry", "queue": "ezra", "task": "TASK-1", "expect": "FAILED"})
    assert status == 200, answer
    assert "- [ ] TASK-1 P1 PENDING Flaky one" in read(fleet.wizard("ezra").queue)
    # Scripts can send the token as a bearer token instead.
    assert Client(f"http://127.0.0.1:{port}").get("/", Authorization=f"Bearer {TOKEN}")[0] == 200
    assert Client(f"http://127.0.0.1:{port}").get("/", Authorization="Bearer wrong-token-wrong-token")[0] == 401


def test_an_action_from_another_origin_or_without_the_session_token_is_refused(fleet, dashboard):
    _proc, base = dashboard(fleet)
    c = Client(base)
    retry = {"action": "retry", "queue": "ezra", "task": "TASK-1", "expect": "FAILED"}
    for kwargs, why in ((dict(origin="http://evil.example"), "another site"),
                        (dict(origin="http://127.0.0.1.evil.example:1"), "another site"),
                        (dict(origin=None), "no Origin"),
                        (dict(csrf=None), "session token"),
                        (dict(csrf="0" * 64), "session token")):
        status, answer = c.act(retry, **kwargs)
        assert status == 403 and why in answer["message"], (kwargs, answer)
    # The CSRF token of one session is no good in another.
    other = Client(base)
    status, answer = c.act(retry, csrf=other.csrf())
    assert status == 403 and "session token" in answer["message"]
    # Actions are POSTs only.
    assert c.get("/action")[0] == 405
    assert read(fleet.wizard("ezra").queue) == QUEUE
    # The same request from the page itself goes through.
    assert c.act(retry)[0] == 200
    # A WebSocket is not bound by the same-origin rule: the live feed checks the Origin itself.
    assert feed_status(base, origin="http://evil.example") == 403
    assert feed_status(base, origin=None) == 403
    assert feed_status(base) == 101


def test_loopback_answers_only_loopback_host_names(fleet, dashboard):
    _proc, base = dashboard(fleet)
    c = Client(base)
    port = c.port
    status, _, text = c.get("/", Host=f"evil.example:{port}")  # a name rebound to 127.0.0.1
    assert status == 421 and "only to its own address" in text
    assert c.get("/", Host=f"localhost:{port}")[0] == 200
    assert feed_status(base, host=f"evil.example:{port}", origin=f"http://evil.example:{port}") == 403


def test_path_tricks_in_ids_and_names_are_refused(fleet, dashboard, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("root:x:0:0 the secret outside the fleet\n")
    _proc, base = dashboard(fleet)
    c = Client(base)
    for path in ("/task/ezra/..%2F..%2Foutside.txt", "/task/ezra/../../outside.txt", "/task/..%2F..%2Ftmp/TASK-1",
                 "/task/ezra/TASK-1%00", "/task/ezra/TASK-1%2F..%2F..%2Ffleet.yaml", "/task/nobody/TASK-1",
                 "/task/ezra/task-1", "/static/..%2F..%2F..%2Ffleet.yaml", "/static/../../../../etc/passwd",
                 "/charts/..%2Fburndown.svg"):
        status, _, text = c.get(path)
        assert status == 404, (path, status)
        assert "the secret" not in text and "root:x" not in text and "wizards" not in text, path
    for payload, code in (({"task": "../../outside"}, 400), ({"task": "TASK-1/../TASK-2"}, 400),
                          ({"task": "TASK-1\x00"}, 400), ({"queue": "../ezra"}, 404), ({"queue": "/etc"}, 404),
                          ({"task": ["TASK-1"]}, 400)):
        status, answer = c.act({"action": "retry", "queue": "ezra", "task": "TASK-1", "expect": "FAILED", **payload})
        assert status == code, (payload, answer)
    assert c.act({"action": "add", "wizard": "../../x", "title": "t"})[0] == 404
    assert c.act({"action": "nope"})[0] == 400
    assert read(fleet.wizard("ezra").queue) == QUEUE
    assert secret.read_text() == "root:x:0:0 the secret outside the fleet\n"


def test_read_only_shows_no_buttons_and_refuses_actions(fleet, dashboard):
    _proc, base = dashboard(fleet, "--read-only")
    c = Client(base)
    status, headers, text = c.get("/board")
    assert status == 200 and 'data-action="retry"' not in text and "Add a task" not in text
    status, answer = c.act({"action": "retry", "queue": "ezra", "task": "TASK-1", "expect": "FAILED"})
    assert status == 403 and "read-only" in answer["message"]
    assert read(fleet.wizard("ezra").queue) == QUEUE


def test_every_answer_carries_the_security_headers(fleet, dashboard):
    _proc, base = dashboard(fleet)
    c = Client(base)
    for path in ("/", "/board", "/static/dashboard.js", "/nowhere"):
        _status, headers, _ = c.get(path)
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
    cookie = [v for v in (c.get("/")[1].get_all("Set-Cookie") or [])]
    fresh = Client(base)
    _s, headers, _ = fresh.get("/")
    set_cookie = headers["Set-Cookie"]
    assert "robe_session=" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert cookie == []  # a session is made once, not on every answer
