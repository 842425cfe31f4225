"""What each page shows, served by the real ``robe dashboard`` process from files robe's own jobs
wrote: the fleet, the board (lanes, columns, filters, paging), a task whole, the failures with
their reasons, the metrics with their charts; and the event stream that makes pages live."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

from robe.api import Fleet
from robe.house import House

from .conftest import Client, Feed, unescape, write_fleet, write_queue

QUEUE = """# Queue

- [ ] TASK-2 P1 PENDING Write the weekly digest
  - Assignee: allegro
  - Tags: writing

| ID | Priority | Status | Task | Assignee |
|----|----------|--------|------|----------|
| TASK-3 | P2 | BLOCKED | Wait for the keys | ezra |
| TASK-4 | P3 | PENDING | Ask a wizard nobody knows | merlin |

## P0 — Critical

### TASK-1: Rotate the gateway logs
- Assignee: ezra
- Tags: ops, logs

Rotate them & keep <seven> days.
"""


def drain(fleet, rounds: int = 10) -> None:
    """Dispatch, execute and monitor with robe's own jobs until nothing is left to claim."""
    f = Fleet(fleet)
    for _ in range(rounds):
        claimed = f.dispatch(gateway=False).claims
        f.execute_once()
        f.monitor()
        if not claimed:
            return
    raise AssertionError(f"the queues were not drained in {rounds} rounds")


def cards(page: str) -> dict[str, dict]:
    """{task id: the card's data attributes and the column it is in} on a board page."""
    out = {}
    for cell in re.finditer(r'<td class="cell" data-status="([A-Z_]+)">(.*?)</td>', page, re.S):
        for m in re.finditer(r'<div class="card" id="[^"]+" data-queue="([^"]+)" data-task="([^"]+)" '
                             r'data-status="([A-Z_]+)" data-priority="(P\d)">', cell.group(2)):
            out[m.group(2)] = {"queue": m.group(1), "status": m.group(3), "priority": m.group(4),
                               "column": cell.group(1)}
    return out


def lanes(page: str) -> list[str]:
    return re.findall(r'<tr class="lane" data-wizard="([^"]+)">', page)


def test_the_fleet_page_shows_each_wizards_state_and_what_it_runs(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {"role": "Scribe, archivist",
                                            "agent": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                      "model": "qwen2.5:1.5b"}},
                                   "allegro": {"gateway": {"start": ["true"], "health": "tcp://127.0.0.1:9"}}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, QUEUE)
    # A live executor for ezra (this test process), and a claim made 90 s ago as the dispatcher makes it.
    House(ezra.house, "ezra").write_executor({"pid": os.getpid(), "host": os.uname().nodename,
                                              "started_at": "x", "heartbeat_at": _stamp(time.time())})
    claim = {"id": "TASK-1", "title": "Rotate the gateway logs", "prompt": "TASK-1: Rotate", "wizard": "ezra",
             "attempt": 2, "claimed_at": _stamp(time.time() - 90), "lease_s": 600, "queue": ezra.queue}
    House(ezra.house, "ezra").create_claim(claim)
    _proc, base = dashboard(fleet)
    status, _, page = Client(base).get("/")
    assert status == 200
    wizards = dict(re.findall(r'data-wizard="([a-z-]+)" data-state="(\w+)"', page))
    assert wizards == {"ezra": "Robed", "allegro": "Dead"}  # no gateway + executor up; gateway down + no executor
    ez = page[page.index('id="wizard-ezra"'):page.index('id="wizard-allegro"')]
    assert "Scribe, archivist" in ez and "openai · qwen2.5:1.5b" in ez and f"<dd>{ezra.port}</dd>" in ez
    assert 'data-alive="yes"' in ez and 'data-gateway="none"' in ez
    running = re.search(r'<p class="running" data-task="TASK-1">(.*?)</p>', ez, re.S).group(1)
    assert 'href="/task/ezra/TASK-1"' in running and "Rotate the gateway logs" in running and "attempt 2" in running
    since = float(re.search(r'data-since="([0-9.]+)"', running).group(1))
    assert abs(time.time() - since - 90) < 5 and re.search(r">(8[5-9]|9[0-9]) s<", running)
    al = page[page.index('id="wizard-allegro"'):]
    assert 'data-gateway="down"' in al and 'data-alive="no"' in al and "Nothing running." in al


def _stamp(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_board_has_a_column_per_status_a_lane_per_wizard_and_filters(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {}, "allegro": {"queue": "ezra/WORK-QUEUE.md"}})
    write_queue(fleet.wizard("ezra").queue, QUEUE)
    _proc, base = dashboard(fleet)
    c = Client(base)
    status, _, page = c.get("/board")
    assert status == 200
    assert lanes(page) == ["ezra", "allegro", "(nobody)"]
    got = cards(page)
    assert {k: (v["column"], v["priority"]) for k, v in got.items()} == {
        "TASK-1": ("PENDING", "P0"), "TASK-2": ("PENDING", "P1"), "TASK-3": ("BLOCKED", "P2"),
        "TASK-4": ("PENDING", "P3")}
    assert re.findall(r'<th scope="col" class="status-\w+">([A-Z_]+) ', page) == [
        "PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "BLOCKED"]
    # The lane of each card: the wizard it routes to (TASK-4 names nobody the fleet has).
    lane_of = {}
    for m in re.finditer(r'<tr class="lane" data-wizard="([^"]+)">(.*?)</tr>', page, re.S):
        lane_of.update({tid: m.group(1) for tid in re.findall(r'data-task="(TASK-\d+)"', m.group(2))})
    assert lane_of == {"TASK-1": "ezra", "TASK-3": "ezra", "TASK-2": "allegro", "TASK-4": "(nobody)"}
    # The task text is escaped, never markup.
    assert "<seven>" not in c.get("/task/ezra/TASK-1")[2]
    for query, expected in (("wizard=allegro", {"TASK-2"}), ("priority=P0", {"TASK-1"}), ("tag=ops", {"TASK-1"}),
                            ("q=keys", {"TASK-3"}), ("q=task-4", {"TASK-4"}), ("status=BLOCKED", {"TASK-3"}),
                            ("wizard=ezra&status=PENDING", {"TASK-1"}), ("wizard=merlin", {"TASK-1", "TASK-2",
                                                                                           "TASK-3", "TASK-4"})):
        assert set(cards(c.get(f"/board?{query}")[2])) == expected, query


def test_ten_thousand_tasks_come_a_page_at_a_time(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    lines = ["# Queue", ""] + [f"- [ ] TASK-{i} P{i % 4} {'PENDING' if i % 3 else 'COMPLETE'} Task number {i}"
                               for i in range(1, 10001)]
    write_queue(fleet.wizard("ezra").queue, "\n".join(lines) + "\n")
    _proc, base = dashboard(fleet)
    c = Client(base)
    status, _, page = c.get("/board")
    assert status == 200
    assert "10000 of 10000 tasks, 40 shown." in page
    assert len(cards(page)) == 40 and len(page) < 200_000
    more = re.findall(r'<a class="more" href="([^"]+)">(\d+) more</a>', page)
    assert [(unescape(h), n) for h, n in more] == [("/board?wizard=ezra&status=PENDING", "6647"),
                                                   ("/board?wizard=ezra&status=COMPLETE", "3313")]
    start = time.monotonic()
    page = c.get("/board?wizard=ezra&status=PENDING&page=3")[2]
    took = time.monotonic() - start
    ids = list(cards(page))
    assert len(ids) == 100 and ids[0] == "TASK-301" and "Page 3 of 67" in page
    assert took < 2.0, f"a page of the board took {took:.2f} s"
    assert list(cards(c.get("/board?q=number+9999")[2])) == ["TASK-9999"]


def test_a_task_page_shows_its_prompt_attempts_answer_events_and_history(tmp_path, dashboard):
    fail_once = tmp_path / "flaky.py"
    fail_once.write_text("import os, sys\n"
                         "if os.environ['ROBE_ATTEMPT'] == '1':\n"
                         "    print('the model is down', file=sys.stderr); sys.exit(3)\n"
                         "print('All rotated: 7 days kept.')\n")
    fleet = write_fleet(tmp_path, {"ezra": {"agent": {"kind": "command", "argv": [sys.executable, str(fail_once)]}}})
    write_queue(fleet.wizard("ezra").queue, "### TASK-1: Rotate the gateway logs\n- Status: PENDING\n\n"
                                            "Keep seven days.\n")
    f = Fleet(fleet)
    for _ in range(2):
        f.dispatch(gateway=False)
        f.execute_once()
        f.monitor()
    f.checkpoint()
    _proc, base = dashboard(fleet)
    status, _, page = Client(base).get("/task/ezra/TASK-1")
    assert status == 200
    page = unescape(page)
    assert 'data-status="COMPLETE"' in page
    assert re.search(r'<pre class="prompt">TASK-1: Rotate the gateway logs\n\nKeep seven days.</pre>', page)
    rows = re.findall(r"<tr><td>(\d)</td><td class=\"status-\w+\">(\w+)</td>.*?<td>([^<]*)</td></tr>", page, re.S)
    assert [(a, s) for a, s, _ in rows] == [("1", "FAILED"), ("2", "COMPLETE")]
    assert "exited with code 3: the model is down" in rows[0][2]
    assert re.search(r'<pre class="answer">All rotated: 7 days kept.\n</pre>', page)
    events = page[page.index("<h2>Events</h2>"):page.index("<h2>Checkpoint history</h2>")]
    assert events.count("PENDING → IN_PROGRESS") == 2 and "IN_PROGRESS → COMPLETE" in events
    assert "result FAILED" in events and "dispatcher:" in events and "monitor:" in events
    history = page[page.index("<h2>Checkpoint history</h2>"):]
    assert re.search(r"<td>- → COMPLETE</td><td><code>[0-9a-f]{10}</code></td><td>checkpoint ", history)


def test_failures_show_their_reasons_and_metrics_their_targets_and_charts(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {"max_attempts": 1,
                                            "agent": {"kind": "command", "argv": [sys.executable, "-c",
                                                      "import sys; print('no disk left', file=sys.stderr); "
                                                      "sys.exit(1)"]}},
                                   "allegro": {}})
    write_queue(fleet.wizard("ezra").queue, "- [ ] TASK-1 P1 PENDING Fill the disk\n")
    write_queue(fleet.wizard("allegro").queue, "- [ ] TASK-1 P1 PENDING Say hello\n- [ ] TASK-2 P2 PENDING Again\n")
    drain(fleet)
    _proc, base = dashboard(fleet)
    c = Client(base)
    page = unescape(c.get("/failures")[2])
    rows = re.findall(r'<tr class="failure" data-queue="(\w+)" data-task="([\w-]+)">.*?<td class="reason">(.*?)</td>',
                      page, re.S)
    assert [(q, t) for q, t, _ in rows] == [("ezra", "TASK-1")]
    assert "exited with code 1: no disk left" in rows[0][2]
    page = c.get("/metrics")[2]
    metrics = re.findall(r'<tr class="metric" data-ok="(\w+)">\s*<td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>',
                         page)
    by_name = {m[1]: (m[0], unescape(m[2]), m[3]) for m in metrics}
    assert by_name["Task completion rate"] == ("no", "> 80%", "66.7%")
    assert by_name["Port conflicts"] == ("yes", "0", "0")
    assert set(by_name) == {"Task completion rate", "Uptime (each wizard)", "Port conflicts", "Shared memory",
                            "Person interventions"}
    assert page.count("<svg ") == 2 and "Tasks finished" in page and "The queue by status" in page
    status, headers, svg = c.get("/charts/throughput.svg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "COMPLETE 2" in svg and "FAILED 1" in svg


def test_the_live_feed_names_what_changed(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, "- [ ] TASK-1 P1 PENDING Say hello\n")
    _proc, base = dashboard(fleet)
    c = Client(base)
    feed = Feed(base)
    assert feed.status == 101 and "hello" in feed.next()
    t0 = time.monotonic()
    write_queue(ezra.queue, "- [ ] TASK-1 P1 BLOCKED Say hello\n")
    assert "queue" in feed.next()["change"]
    took = time.monotonic() - t0
    assert took < 1.0, f"the change reached the feed after {took:.2f} s"
    with open(os.path.join(ezra.logs_dir, "events.jsonl"), "a") as f:
        f.write('{"ts": "2026-12-01T00:00:00.000Z", "task": "TASK-1"}\n')
    assert feed.next() == {"change": ["events"]}
    feed.close()
    # The board's live part, as a page fetches it after the change, has the new status.
    page = c.get("/board", **{"X-Robe-Fragment": "1"})[2]
    assert "<html" not in page and cards(page)["TASK-1"]["status"] == "BLOCKED"


def test_a_task_page_shows_the_tokens_and_cost_an_agent_reported(tmp_path, dashboard):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, "- [x] TASK-1 P1 COMPLETE Summarise the logs\n")
    house = House(ezra.house, "ezra")
    # As the executor writes a Hermes result (usage from its usage file), then the monitor archives it.
    house.write_result("TASK-1", b"Three errors, all timeouts.\n",
                       {"id": "TASK-1", "wizard": "ezra", "attempt": 1, "status": "COMPLETE", "exit_code": 0,
                        "error": None, "agent": "hermes", "started_at": "2026-12-01T10:00:00.000Z",
                        "finished_at": "2026-12-01T10:00:42.000Z", "duration_s": 42.0, "truncated": False,
                        "usage": {"model": "qwen2.5:1.5b", "input_tokens": 1200, "output_tokens": 300,
                                  "estimated_cost_usd": 0.0123}})
    house.archive_result("TASK-1", 1)
    _proc, base = dashboard(fleet)
    page = unescape(Client(base).get("/task/ezra/TASK-1")[2])
    row = re.search(r"<tr><td>1</td><td class=\"status-complete\">COMPLETE</td>(.*?)</tr>", page, re.S).group(1)
    assert "<td>42.0 s</td>" in row and "<td>1500</td>" in row and "<td>$0.0123</td>" in row and "hermes" in row
    assert '<pre class="answer">Three errors, all timeouts.\n</pre>' in page
