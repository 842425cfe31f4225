"""robe mcp, driven by the mcp SDK's own Client over stdio: every tool, every resource, bad
arguments for each tool (a sentence, never a traceback) and a queue file that is missing."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from mcp.shared.exceptions import MCPError

from robe.api import Fleet
from robe.queue import Status, load
from robe.queue.asks import ask_of
from robe.queue.events import read_events
from robe.report import write_report

from .conftest import ROBE, call, serve

TOOLS = ["list_tasks", "show_task", "add_task", "set_status", "task_answer", "fleet_status", "ask_wizard", "inbox"]

EZRA = """\
# Ezra's queue

## P0

### TASK-001: Rotate the gateway logs
- Status: PENDING
- Tags: ops, gateway

Keep seven days.

## P2

- [ ] TASK-002 P2 PENDING Write the weekly digest
- [x] TASK-003 P1 COMPLETE Sweep the cache
"""
ALLEGRO = """\
| ID | Priority | Status | Task | Assignee |
|----|----------|--------|------|----------|
| TASK-001 | P1 | PENDING | Check the backups | allegro |
"""


def _queues(fleet) -> None:
    for name, text in (("ezra", EZRA), ("allegro", ALLEGRO)):
        with open(fleet.wizard(name).queue, "w", encoding="utf-8") as f:
            f.write(text)


def _read(fleet, name: str) -> str:
    with open(fleet.wizard(name).queue, encoding="utf-8") as f:
        return f.read()


def test_the_tools_and_resources_are_the_ones_the_contract_names(fleet):
    async def session(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        resources = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        return tools, resources
    tools, resources = serve(fleet.path, session, as_wizard="ezra")
    assert list(tools) == TOOLS
    assert all(t.description for t in tools.values())
    assert set(tools["ask_wizard"].input_schema["properties"]) == {"wizard", "question", "wait_seconds", "priority"}
    assert tools["ask_wizard"].input_schema["required"] == ["wizard", "question"]
    assert set(tools["list_tasks"].input_schema["properties"]) == {"status", "wizard", "priority", "tag", "ready",
                                                                   "limit"}
    assert set(tools["add_task"].input_schema["properties"]) == {"title", "body", "priority", "assignee", "depends",
                                                                 "tags", "wizard"}
    assert resources == ["robe://queue/allegro", "robe://queue/bob", "robe://queue/ezra", "robe://report/latest"]


def test_list_and_show_tasks(fleet):
    _queues(fleet)

    async def session(client):
        out = {"all": await call(client, "list_tasks"),
               "pending": await call(client, "list_tasks", status="pending,blocked"),
               "p0": await call(client, "list_tasks", priority="p0"),
               "tag": await call(client, "list_tasks", tag="gateway"),
               "ezra": await call(client, "list_tasks", wizard="ezra"),
               "ready": await call(client, "list_tasks", wizard="ezra", ready=True),
               "one": await call(client, "list_tasks", limit=1),
               "ambiguous": await call(client, "show_task", id="TASK-001"),
               "show": await call(client, "show_task", id="TASK-001", wizard="ezra")}
        return out
    out = serve(fleet.path, session, as_wizard="ezra")
    assert not any(err for err, _ in out.values() if _ is not out["ambiguous"][1])
    ids = lambda key: [(t["id"], t["wizard"]) for t in out[key][1]["tasks"]]  # noqa: E731
    assert ids("all") == [("TASK-001", "ezra"), ("TASK-002", "ezra"), ("TASK-003", "ezra"), ("TASK-001", "allegro")]
    assert out["all"][1]["count"] == 4 and out["all"][1]["unreadable"] == []
    assert "body" not in out["all"][1]["tasks"][0]
    assert ids("pending") == [("TASK-001", "ezra"), ("TASK-002", "ezra"), ("TASK-001", "allegro")]
    assert ids("p0") == [("TASK-001", "ezra")] and ids("tag") == [("TASK-001", "ezra")]
    assert ids("ezra") == [("TASK-001", "ezra"), ("TASK-002", "ezra"), ("TASK-003", "ezra")]
    assert ids("ready") == [("TASK-001", "ezra"), ("TASK-002", "ezra")]
    assert (ids("one"), out["one"][1]["more"]) == ([("TASK-001", "ezra")], 3)
    err, text = out["ambiguous"]
    assert err and text.startswith("TASK-001 is in several queues (") and text.endswith("say which with wizard")
    err, task = out["show"]
    assert not err and (task["id"], task["priority"], task["status"], task["tags"]) == (
        "TASK-001", "P0", "PENDING", ["ops", "gateway"])
    assert task["body"].strip() == "Keep seven days." and task["queue"] == fleet.wizard("ezra").queue
    assert task["ask"] is None


def test_add_task_writes_in_the_style_of_the_target_queue(fleet):
    _queues(fleet)

    async def session(client):
        return [await call(client, "add_task", title="Archive the digest", body="Into the archive folder.",
                           tags=["ops"]),
                await call(client, "add_task", title="Check the restore", priority="P0", assignee="allegro",
                           depends=["TASK-001"]),
                await call(client, "add_task", title="Explain the restore", body="In two lines.",
                           wizard="allegro")]
    (e1, own), (e2, assigned), (e3, sectioned) = serve(fleet.path, session, as_wizard="ezra")
    assert not (e1 or e2 or e3), (own, assigned, sectioned)
    # ezra's own queue (acting as ezra), a checklist: a list item with its body indented under it.
    assert (own["id"], own["queue"], own["status"]) == ("TASK-004", fleet.wizard("ezra").queue, "PENDING")
    assert _read(fleet, "ezra") == EZRA + (
        "- [ ] TASK-004 P2 PENDING Archive the digest\n  - Tags: ops\n\n  Into the archive folder.\n")
    # The assignee's queue, a table: a row in its column order.
    assert assigned["id"] == "TASK-002" and assigned["wizard"] == "allegro"
    assert _read(fleet, "allegro").startswith(ALLEGRO + "| TASK-002 | P0 | PENDING | Check the restore | allegro |\n")
    # A table has no room for a body: that task is written as a section.
    assert sectioned["id"] == "TASK-003" and sectioned["style"] == "section" and sectioned["body"] == "In two lines."
    events = list(read_events(os.path.join(fleet.wizard("ezra").house, "logs", "events.jsonl")))
    assert [(e["task"], e["to"], e["by"], e["detail"]) for e in events] == [("TASK-004", "PENDING", "wizard:ezra",
                                                                              "added")]


def test_set_status_with_expect_and_task_answer(fleet):
    _queues(fleet)

    async def before(client):
        return [await call(client, "set_status", id="TASK-002", status="blocked", expect="PENDING",
                           reason="waiting for the logs", wizard="ezra"),
                await call(client, "set_status", id="TASK-002", status="COMPLETE", expect="PENDING", wizard="ezra"),
                await call(client, "task_answer", id="TASK-001", wizard="allegro")]
    (e1, changed), (e2, refused), (e3, none_yet) = serve(fleet.path, before, as_wizard="ezra")
    assert not e1 and changed == {"id": "TASK-002", "queue": fleet.wizard("ezra").queue, "before": "PENDING",
                                  "after": "BLOCKED", "changed": True}
    assert "- [ ] TASK-002 P2 BLOCKED Write the weekly digest\n" in _read(fleet, "ezra")
    assert e2 and refused == "TASK-002 is BLOCKED now, not PENDING; nothing was changed"
    assert not e3 and none_yet["answer"] is None and none_yet["detail"] == "TASK-001 has no answer yet (it is PENDING)"
    [event] = [e for e in read_events(os.path.join(fleet.wizard("ezra").house, "logs", "events.jsonl"))]
    assert (event["by"], event["detail"], event["to"]) == ("wizard:ezra", "waiting for the logs", "BLOCKED")
    f = Fleet(fleet)
    f.dispatch(["allegro"], gateway=False)
    f.execute_once(["allegro"])
    f.monitor(["allegro"])

    async def after(client):
        return await call(client, "task_answer", id="TASK-001", wizard="allegro")
    err, answered = serve(fleet.path, after)
    assert not err and answered["status"] == "COMPLETE" and answered["attempt"] == 1
    assert answered["answer"].startswith("TASK-001: Check the backups\n\necho agent of wizard allegro")
    assert answered["outcome"]["status"] == "COMPLETE" and answered["outcome"]["agent"] == "echo"


def test_fleet_status(fleet):
    async def session(client):
        return await call(client, "fleet_status")
    err, status = serve(fleet.path, session)
    assert not err and status["fleet"] == fleet.path
    assert [(w["wizard"], w["state"], w["executor"]["alive"]) for w in status["wizards"]] == [
        ("ezra", "Dead", False), ("allegro", "Dead", False), ("bob", "Dead", False)]


def _answering(fleet, name: str, stop: threading.Event) -> threading.Thread:
    """A stand-in for cron: dispatch, execute and monitor ``name`` every 0.1 s until ``stop``."""
    def loop():
        f = Fleet(fleet)
        while not stop.is_set():
            f.dispatch([name], gateway=False)
            f.execute_once([name])
            f.monitor([name])
            stop.wait(0.1)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_ask_wizard_waits_for_the_answer_and_inbox_holds_the_later_ones(fleet):
    async def session(client):
        return [await call(client, "ask_wizard", wizard="allegro", question="Are the backups fresh?",
                           wait_seconds=0),
                await call(client, "ask_wizard", wizard="bob", question="Anyone there?", wait_seconds=0.5)]
    (e1, later), (e2, timed_out) = serve(fleet.path, session, as_wizard="ezra")
    assert not e1 and later["answered"] is False and later["asked"]["id"] == "TASK-001"
    assert later["detail"] == "asked allegro (TASK-001); its answer will come to your inbox"
    assert not e2 and timed_out["answered"] is False and timed_out["detail"].startswith(
        "bob has not answered TASK-001 within 0.5 s; the question stays in bob's queue")
    stop = threading.Event()
    worker = _answering(fleet, "allegro", stop)
    try:
        async def waiting(client):
            return [await call(client, "ask_wizard", wizard="allegro", question="Which port?", wait_seconds=20),
                    await call(client, "inbox", peek=True), await call(client, "inbox"),
                    await call(client, "inbox"), await call(client, "inbox", all=True)]
        t = time.monotonic()
        (e3, answered), (_, peeked), (_, unread), (_, empty), (_, everything) = serve(fleet.path, waiting,
                                                                                     as_wizard="ezra")
    finally:
        stop.set()
        worker.join(10)
    assert not e3 and answered["answered"] is True and answered["status"] == "COMPLETE", answered
    assert "> Which port?" in answered["answer"] and time.monotonic() - t < 20
    # The first question's answer came while nobody waited: it is in the inbox, once.
    assert [m["task"] for m in peeked["messages"]] == ["TASK-001"] and peeked["count"] == 1
    assert [m["task"] for m in unread["messages"]] == ["TASK-001"]
    assert "> Are the backups fresh?" in unread["messages"][0]["answer"]
    assert empty["messages"] == [] and empty["inbox"] == os.path.join(fleet.wizard("ezra").house, "inbox")
    assert sorted(m["task"] for m in everything["messages"]) == ["TASK-001", "TASK-002"]


def test_a_question_asked_inside_a_task_knows_its_chain(fleet):
    first = json.loads(subprocess.run([ROBE, "ask", "allegro", "Start?", "--from", "ezra", "--json", "--fleet",
                                       fleet.path], capture_output=True, text=True, check=True).stdout)["asked"]
    Fleet(fleet).dispatch(["allegro"], gateway=False)

    async def session(client):
        return [await call(client, "ask_wizard", wizard="ezra", question="Back to you?", wait_seconds=0),
                await call(client, "ask_wizard", wizard="bob", question="Onwards?", wait_seconds=0)]
    env = {"ROBE_TASK_ID": first["id"], "ROBE_WIZARD": "allegro"}
    (e1, loop), (e2, onwards) = serve(fleet.path, session, as_wizard="allegro", env=env)
    assert e1 and loop.startswith("ezra is already in this chain of questions (ezra -> allegro -> ezra)")
    assert not e2 and onwards["asked"]["chain"] == ["ezra", "allegro"]
    asked = load(fleet.wizard("bob").queue).get(onwards["asked"]["id"])
    assert ask_of(asked).task == first["id"] and ask_of(asked).asked_by == "allegro"


BAD = [
    ("list_tasks", {"status": "DONEISH"}, "status 'DONEISH' is not a status; use one of PENDING, IN_PROGRESS"),
    ("list_tasks", {"limit": 0}, "limit 0 is out of range; send 1 to 500"),
    ("list_tasks", {"limit": "many"}, "list_tasks was called with wrong arguments: limit: Input should be a valid "
                                      "integer"),
    ("list_tasks", {"ready": True}, "ready needs wizard"),
    ("list_tasks", {"wizard": "nobody"}, "there is no wizard named 'nobody'; the fleet has: ezra, allegro, bob"),
    ("list_tasks", {"wizzard": "ezra"}, "list_tasks has no argument 'wizzard'; it takes: limit, priority, ready"),
    ("list_tasks", {"priority": "urgent"}, "priority 'urgent' is not a priority; use P0"),
    ("show_task", {}, "show_task was called with wrong arguments: id: Field required"),
    ("show_task", {"id": "../../etc/passwd"}, "'../../etc/passwd' is not a task ID; IDs look like TASK-001"),
    ("show_task", {"id": "TASK-404"}, "TASK-404 is not in any queue of the fleet"),
    ("add_task", {"title": ""}, "a task needs a title"),
    ("add_task", {"title": "Two\nlines"}, "a task's title must be one line"),
    ("add_task", {"title": "T", "priority": "P7"}, "priority 'P7' is not a priority"),
    ("add_task", {"title": "T", "depends": ["nope"]}, "'nope' is not a task ID"),
    ("add_task", {"title": "T", "depends": ["TASK-999"]}, "TASK-999 is not in the queue"),
    ("add_task", {"title": "T", "tags": ["a,b"]}, "tag 'a,b' is not one word"),
    ("add_task", {"title": "T", "assignee": "nobody"}, "there is no wizard named 'nobody'"),
    ("add_task", {"title": "T", "depends": "TASK-001"}, "add_task was called with wrong arguments: depends"),
    ("set_status", {"id": "TASK-001", "status": "DONE-ISH", "wizard": "ezra"}, "status 'DONE-ISH' is not a status"),
    ("set_status", {"id": "TASK-001", "status": "COMPLETE", "expect": "SOON", "wizard": "ezra"},
     "expect 'SOON' is not a status"),
    ("task_answer", {"id": "task-1"}, "'task-1' is not a task ID"),
    ("ask_wizard", {"wizard": "nobody", "question": "Hi?"}, "there is no wizard named 'nobody'"),
    ("ask_wizard", {"wizard": "allegro", "question": "  "}, "the question is empty"),
    ("ask_wizard", {"wizard": "allegro", "question": "Hi?", "wait_seconds": -1}, "wait_seconds -1 is out of range"),
    ("ask_wizard", {"wizard": "allegro", "question": "Hi?", "wait_seconds": 5000}, "send 0 (do not wait) to 900"),
    ("ask_wizard", {"wizard": "allegro", "question": "Hi?", "priority": "P9"}, "priority 'P9' is not a priority"),
    ("ask_wizard", {"wizard": "ezra", "question": "Me?"}, "ezra cannot ask itself"),
    ("ask_wizard", {"question": "Who?"}, "ask_wizard was called with wrong arguments: wizard: Field required"),
    ("inbox", {"limit": 0}, "limit 0 is out of range"),
    ("fleet_status", {"verbose": True}, "fleet_status has no argument 'verbose'; it takes: none"),
]


def test_every_tool_answers_bad_arguments_with_a_sentence(fleet):
    _queues(fleet)
    before = {n: _read(fleet, n) for n in ("ezra", "allegro")}

    async def session(client):
        out = [(name, args, await call(client, name, **args)) for name, args, _ in BAD]
        unknown = await client.call_tool("no_such_tool", {})
        return out, unknown
    results, unknown = serve(fleet.path, session, as_wizard="ezra")
    assert {name for name, _, _ in BAD} == set(TOOLS)
    for (name, args, (err, text)), (_, _, expected) in zip(results, BAD):
        assert err, (name, args, text)
        assert expected in text, (name, args, text)
        assert "Traceback" not in text and "Error executing tool" not in text, text
    assert unknown.is_error and "no_such_tool" in unknown.content[0].text
    assert {n: _read(fleet, n) for n in ("ezra", "allegro")} == before  # nothing was written


def test_a_missing_queue_is_a_clear_error_and_the_others_still_work(fleet):
    _queues(fleet)
    os.remove(fleet.wizard("bob").queue)

    async def session(client):
        out = {"list": await call(client, "list_tasks"),
               "bob": await call(client, "list_tasks", wizard="bob"),
               "show": await call(client, "show_task", id="TASK-001", wizard="bob"),
               "add": await call(client, "add_task", title="T", wizard="bob"),
               "ask": await call(client, "ask_wizard", wizard="bob", question="Hi?"),
               "answer": await call(client, "task_answer", id="TASK-002", wizard="bob")}
        try:
            await client.read_resource("robe://queue/bob")
            out["resource"] = None
        except MCPError as e:
            out["resource"] = str(e)
        out["ezra"] = (await client.read_resource("robe://queue/ezra")).contents[0].text
        return out
    out = serve(fleet.path, session, as_wizard="ezra")
    missing = f"{fleet.wizard('bob').queue} does not exist"
    assert not out["list"][0] and out["list"][1]["count"] == 4 and missing in out["list"][1]["unreadable"][0]
    assert not out["bob"][0] and out["bob"][1]["tasks"] == []
    assert out["show"] == (True, f"TASK-001 is not in wizard bob's queue ({missing}; create it, or pass the "
                                 "queue's path with -f); list_tasks shows the tasks there are")
    assert out["add"] == (True, f"wizard bob has no queue at {fleet.wizard('bob').queue}; 'robe init' in the "
                                "fleet's folder creates it")
    assert out["ask"] == (True, f"wizard bob has no queue at {fleet.wizard('bob').queue}; create it (robe init "
                                "builds what is missing)")
    assert out["answer"][0] and missing in out["answer"][1]
    assert out["resource"] is not None and missing in out["resource"]
    assert out["ezra"] == EZRA


def test_the_latest_report_is_a_resource(fleet):
    async def read(client):
        try:
            return (await client.read_resource("robe://report/latest")).contents[0].text
        except MCPError as e:
            return f"error: {e}"
    latest = os.path.join(fleet.root, "reports", "latest.md")
    assert serve(fleet.path, read) == f"error: there is no progress report yet ({latest}); 'robe report' writes one"
    write_report(fleet)
    with open(os.path.join(fleet.root, "reports", "latest.md"), encoding="utf-8") as f:
        assert serve(fleet.path, read) == f.read()


@pytest.mark.parametrize("args, message", [
    (["--as", "nobody"], "there is no wizard named 'nobody'"),
    (["--fleet", "/nonexistent/fleet.yaml"], "/nonexistent/fleet.yaml does not exist"),
])
def test_robe_mcp_refuses_to_start_with_a_bad_fleet_or_wizard(fleet, args, message):
    argv = [ROBE, "mcp", *(["--fleet", fleet.path] if "--fleet" not in args else []), *args]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Error: ") and message in r.stderr and "Traceback" not in r.stderr


def test_without_as_the_server_asks_for_a_person(fleet):
    async def session(client):
        return await call(client, "ask_wizard", wizard="allegro", question="Status?", wait_seconds=0)
    err, asked = serve(fleet.path, session)
    assert not err
    task = load(fleet.wizard("allegro").queue).get(asked["asked"]["id"])
    assert "@" in ask_of(task).asked_by and task.status is Status.PENDING
