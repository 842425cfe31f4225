"""robe's MCP server (``robe mcp``): the fleet's queues, its state and asking, as tools an agent calls.

Served over stdio with the official ``mcp`` SDK. One server acts for one wizard (``--as``; a
person when none): that wizard is who asks, whose inbox is read, and whose queue a new task
goes to by default. The executor gives an agent its task's ID (``ROBE_TASK_ID``), so a
question asked from inside a task knows the chain of questions it belongs to.

| tool          | what it does                                                             |
|---------------|--------------------------------------------------------------------------|
| list_tasks    | the tasks of the fleet's queues, filtered (status, wizard, priority, tag, ready) |
| show_task     | one task whole, with its body                                            |
| add_task      | append a task to a wizard's queue, in the style that file already uses   |
| set_status    | change a task's status, optionally only if it still has status ``expect`` |
| task_answer   | the newest answer a wizard gave to a task                                |
| fleet_status  | each wizard's state, queue counts and claims                             |
| ask_wizard    | ask another wizard a question (robe ask) and wait for its answer         |
| inbox         | the answers to this wizard's questions                                   |

Resources: ``robe://queue/<wizard>`` for each queue file (named after its first reader) and
``robe://report/latest``, the latest progress report.

fleet.yaml is read afresh on every call. A tool checks its arguments and answers a wrong one
with one sentence that says what to send instead (a tool error the model reads); robe's own
errors arrive the same way, never as a traceback.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field, ValidationError

from . import ask as asking
from .dispatch import claimed_ids
from .errors import RobeError
from .fleet.config import load_fleet
from .fleet.model import FleetConfig, FleetError
from .fleet.status import fleet_status
from .house import House
from .queue import PRIORITIES, STATUS_WORDS, QueueError, Snapshot, Status, Task, is_valid_id, load, parse_status
from .queue.api import Queue
from .queue.asks import ask_of
from .report import reports_dir
from .routing import Router, is_ready, queue_key

log = logging.getLogger(__name__)
#: the longest an ask_wizard call may wait (Hermes is told to allow a little more per call)
MAX_WAIT_S = 900
MAX_LIMIT = 500

INSTRUCTIONS = (
    "robe runs this fleet of agents (wizards) from markdown work queues. Use these tools to read the queues, add "
    "follow-up work, change a status, read answers, and ask another wizard a question: ask_wizard puts it in that "
    "wizard's queue and waits for the answer; answers that come later are in inbox."
)


def _fail(message: str):
    raise ToolError(message)


def _status(word: str, what: str = "status") -> Status:
    s = parse_status(word or "")
    if s is None:
        _fail(f"{what} {word!r} is not a status; use one of {', '.join(STATUS_WORDS)}")
    return s


def _statuses(text: str | None, what: str = "status") -> tuple[Status, ...]:
    return tuple(_status(w, what) for w in (text or "").split(",") if w.strip())


def _priority(word: str) -> str:
    p = (word or "").strip().upper()
    if p not in PRIORITIES:
        _fail(f"priority {word!r} is not a priority; use P0 (most urgent), P1, P2 or P3")
    return p


def _task_id(text: str) -> str:
    tid = (text or "").strip()
    if not is_valid_id(tid):
        _fail(f"{text!r} is not a task ID; IDs look like TASK-001 (upper-case letters and digits, a dash, a number)")
    return tid


def _words(values: list[str] | None, what: str) -> list[str]:
    out = []
    for v in values or []:
        v = v.strip()
        if not v or "," in v or "\n" in v:
            _fail(f"{what} {v!r} is not one word; send a list such as [\"ops\", \"research\"]")
        out.append(v)
    return out


class Tools:
    """The tools, as plain methods: each reads fleet.yaml afresh and calls robe's library."""

    def __init__(self, fleet_path: str, as_wizard: str | None = None, task_id: str | None = None):
        self.fleet_path = fleet_path
        self.as_wizard = as_wizard
        self.task_id = task_id if task_id and is_valid_id(task_id) else None
        self.by = f"wizard:{as_wizard}" if as_wizard else None

    # -- helpers
    def fleet(self) -> FleetConfig:
        try:
            return load_fleet(self.fleet_path)
        except FleetError as e:
            _fail(str(e))

    def _wizard(self, fleet: FleetConfig, name: str | None):
        try:
            return fleet.wizard((name or "").strip())
        except FleetError:
            _fail(f"there is no wizard named {name!r}; the fleet has: {', '.join(fleet.names) or 'none'}")

    def _snapshots(self, fleet: FleetConfig, only: str | None = None) -> tuple[list[Snapshot], list[str]]:
        """Each queue file of the fleet once (only wizard ``only``'s when given), parsed, and a
        sentence for each that could not be read."""
        paths: dict[str, str] = {}
        for w in fleet.wizards:
            if only is None or w.name == only:
                paths.setdefault(queue_key(w.queue), w.queue)
        snaps, skipped = [], []
        for path in paths.values():
            try:
                snaps.append(load(path, default_priority=fleet.default_priority, known_assignees=fleet.names))
            except QueueError as e:
                skipped.append(str(e))
        return snaps, skipped

    def _find(self, fleet: FleetConfig, task_id: str, wizard: str | None) -> tuple[Snapshot, Task]:
        tid = _task_id(task_id)
        if wizard is not None:
            self._wizard(fleet, wizard)
        snaps, skipped = self._snapshots(fleet, wizard)
        found = [(s, t) for s in snaps for t in list(s.tasks) + list(s.rejected) if t.id == tid]
        if not found:
            where = f"wizard {wizard}'s queue" if wizard else "any queue of the fleet"
            why = f" ({'; '.join(skipped)})" if skipped else ""
            _fail(f"{tid} is not in {where}{why}; list_tasks shows the tasks there are")
        if len(found) > 1:
            _fail(f"{tid} is in several queues ({', '.join(s.path for s, _ in found)}); say which with wizard")
        return found[0]

    def _task_dict(self, fleet: FleetConfig, snap: Snapshot, task: Task, body: bool = True) -> dict:
        d = task.to_dict()
        if not body:
            d.pop("body", None)
            d.pop("fields", None)
        d["queue"] = snap.path
        d["wizard"] = Router(fleet, snap.path).route(task).wizard
        a = ask_of(task)
        d["ask"] = {"asked_by": a.asked_by, "chain": list(a.chain), "task": a.task} if a else None
        return d

    # -- the tools
    def list_tasks(self, status=None, wizard=None, priority=None, tag=None, ready=False, limit=50) -> dict:
        fleet = self.fleet()
        want_s = _statuses(status)
        want_p = _priority(priority) if priority else None
        if not 1 <= limit <= MAX_LIMIT:
            _fail(f"limit {limit} is out of range; send 1 to {MAX_LIMIT}")
        if ready and not wizard:
            _fail("ready needs wizard: it lists what that wizard would take next, in order")
        w = self._wizard(fleet, wizard) if wizard else None
        snaps, skipped = self._snapshots(fleet)
        rows = []
        for snap in snaps:
            router, by_id = Router(fleet, snap.path), snap.by_id()
            taken = claimed_ids(fleet, snap.path) if ready else set()
            for t in snap.tasks:
                if (want_s and t.status not in want_s) or (want_p and t.priority != want_p) \
                        or (tag and tag.strip().lower() not in t.tags):
                    continue
                if w is not None and router.route(t).wizard != w.name:
                    continue
                if ready and (t.id in taken or not is_ready(t, by_id, PRIORITIES.index(w.dispatch_floor))):
                    continue
                rows.append(self._task_dict(fleet, snap, t, body=False))
        if ready:
            rows.sort(key=lambda d: PRIORITIES.index(d["priority"]))
        return {"count": len(rows), "tasks": rows[:limit], "more": max(len(rows) - limit, 0), "unreadable": skipped}

    def show_task(self, id: str, wizard: str | None = None) -> dict:
        fleet = self.fleet()
        snap, task = self._find(fleet, id, wizard)
        d = self._task_dict(fleet, snap, task)
        problems = [str(p) for p in snap.problems if p.task_id == task.id]
        if problems:
            d["problems"] = problems
        return d

    def add_task(self, title, body="", priority="P2", assignee=None, depends=None, tags=None, wizard=None) -> dict:
        fleet = self.fleet()
        pri = _priority(priority)
        who = self._wizard(fleet, assignee).name if assignee else None
        target = wizard or who or self.as_wizard or fleet.default_wizard
        if not target:
            _fail("say whose queue the task goes to: send wizard (or assignee)")
        w = self._wizard(fleet, target)
        if not os.path.exists(w.queue):
            _fail(f"wizard {w.name} has no queue at {w.queue}; 'robe init' in the fleet's folder creates it")
        deps = [_task_id(d) for d in depends or []]
        queue = Queue(w.queue, default_priority=fleet.default_priority)
        try:
            # A table has no room for a body: then the task is written as a section (as asks are).
            style = asking.body_style(queue.read()) if (body or "").strip() else None
            task = queue.add(title, priority=pri, assignee=who, depends=deps, tags=_words(tags, "tag"),
                             body=body or "", style=style, by=self.by)
        except QueueError as e:
            _fail(str(e))
        return self._task_dict(fleet, Queue(w.queue).read(), task)

    def set_status(self, id, status, expect=None, reason="", wizard=None) -> dict:
        fleet = self.fleet()
        new = _status(status)
        want = _statuses(expect, "expect")
        snap, task = self._find(fleet, id, wizard)
        try:
            out = Queue(snap.path).set_status(task.id, new, expect=want or None, reason=reason or "",
                                              by=self.by)
        except QueueError as e:
            _fail(str(e))
        return {"id": task.id, "queue": snap.path, "before": out.before.value if out.before else None,
                "after": out.after.value if out.after else None, "changed": out.reason != "unchanged"}

    def task_answer(self, id: str, wizard: str | None = None) -> dict:
        fleet = self.fleet()
        snap, task = self._find(fleet, id, wizard)
        name = Router(fleet, snap.path).route(task).wizard
        found = None
        if name is not None:
            w = fleet.wizard(name)
            found = House(w.house, w.name).latest_answer(task.id)
        if found is None:
            return {"id": task.id, "status": task.status.value, "wizard": name, "answer": None,
                    "detail": f"{task.id} has no answer yet (it is {task.status.value})"}
        attempt, text, outcome = found
        return {"id": task.id, "status": task.status.value, "wizard": name, "attempt": attempt, "answer": text,
                "outcome": {k: (outcome or {}).get(k) for k in ("status", "error", "finished_at", "agent")}}

    def fleet_status(self) -> dict:
        fleet = self.fleet()
        return {"fleet": fleet.path, "wizards": [s.to_dict() for s in fleet_status(fleet)]}

    def ask_wizard(self, wizard, question, wait_seconds=120.0, priority="P1") -> dict:
        fleet = self.fleet()
        if not 0 <= wait_seconds <= MAX_WAIT_S:
            _fail(f"wait_seconds {wait_seconds:g} is out of range; send 0 (do not wait) to {MAX_WAIT_S}")
        target = self._wizard(fleet, wizard).name
        try:
            ticket = asking.ask(fleet, target, question, asker=self.as_wizard, task_id=self.task_id,
                                priority=_priority(priority))
        except RobeError as e:
            _fail(str(e))
        asked = {"id": ticket.id, "wizard": target, "queue": ticket.queue, "chain": list(ticket.chain)}
        if wait_seconds <= 0:
            return {"answered": False, "asked": asked,
                    "detail": f"asked {target} ({ticket.id}); its answer will come to your inbox"}
        try:
            msg = asking.wait(fleet, ticket, wait_seconds, poll=0.1)
        except asking.AskTimeout as e:
            return {"answered": False, "asked": asked, "detail": str(e)}
        return {"answered": True, "asked": asked, "status": msg.get("status"), "answer": msg.get("answer"),
                "error": msg.get("error")}

    def inbox(self, all=False, peek=False, limit=20) -> dict:
        if not 1 <= limit <= MAX_LIMIT:
            _fail(f"limit {limit} is out of range; send 1 to {MAX_LIMIT}")
        fleet = self.fleet()
        found = asking.inbox(fleet, self.as_wizard, include_read=all, mark_read=False)
        shown = found[-limit:]
        if not peek:
            box = asking.inbox_of(fleet, self.as_wizard)
            for msg in shown:
                if not msg["read"]:
                    box.mark_read(msg["id"])
        return {"inbox": asking.inbox_of(fleet, self.as_wizard).folder, "count": len(found), "messages": shown}


def _arguments_error(name: str, exc: ValidationError) -> str:
    """One sentence for arguments that do not fit a tool's schema."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e.get("loc", ())) or "arguments"
        got = f" (got {e['input']!r})" if "input" in e and e.get("type") != "missing" else ""
        parts.append(f"{where}: {e.get('msg', 'is not valid')}{got}")
    return f"{name} was called with wrong arguments: {'; '.join(parts)}"


class RobeMCP(MCPServer):
    """The SDK's MCPServer, answering unknown and ill-typed arguments with one plain sentence."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        schema = next((t.input_schema for t in await self.list_tools() if t.name == name), None)
        if schema is not None:
            known = set(schema.get("properties", {}))
            unknown = sorted(set(arguments or {}) - known)
            if unknown:
                raise ToolError(f"{name} has no argument {', '.join(repr(u) for u in unknown)}; "
                                f"it takes: {', '.join(sorted(known)) or 'none'}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as e:
            if isinstance(e.__cause__, ValidationError):
                raise ToolError(_arguments_error(name, e.__cause__)) from None
            if isinstance(e.__cause__, ToolError):  # one of ours: its sentence, without the SDK's prefix
                raise ToolError(str(e.__cause__)) from None
            raise


def _run(method, **kwargs) -> dict:
    """Call a tool's method; robe's errors and OS errors become a tool error with their sentence."""
    try:
        return method(**kwargs)
    except ToolError:
        raise
    except (RobeError, OSError, ValueError) as e:
        raise ToolError(str(e)) from None


WizardName = Annotated[str | None, Field(description="A wizard's name, as in fleet.yaml (e.g. allegro).")]
TaskId = Annotated[str, Field(description="A task ID such as TASK-001.")]
InQueueOf = Annotated[str | None, Field(description="Look only in this wizard's queue (when an ID is in several).")]


def build(fleet_path: str, as_wizard: str | None = None, task_id: str | None = None) -> RobeMCP:
    """The server for the fleet at ``fleet_path``, acting for ``as_wizard`` (a person when None)."""
    fleet = load_fleet(fleet_path)
    if as_wizard is not None:
        fleet.wizard(as_wizard)  # FleetError naming the wizards there are
    server = RobeMCP("robe", instructions=INSTRUCTIONS, log_level="WARNING")
    _tools(server, Tools(fleet.path, as_wizard, task_id))
    _resources(server, fleet)
    return server


def _tools(server: RobeMCP, tools: Tools) -> None:
    """The tools, with the argument descriptions an agent's model reads."""

    @server.tool()
    def list_tasks(
            status: Annotated[str | None, Field(description="PENDING, IN_PROGRESS, COMPLETE, FAILED or BLOCKED "
                                                            "(several: comma-separated).")] = None,
            wizard: Annotated[str | None, Field(description="Only tasks this wizard takes (routing).")] = None,
            priority: Annotated[str | None, Field(description="P0 (most urgent) to P3.")] = None,
            tag: Annotated[str | None, Field(description="Only tasks with this tag.")] = None,
            ready: Annotated[bool, Field(description="With wizard: what it would take next, in order.")] = False,
            limit: Annotated[int, Field(description=f"At most this many (1-{MAX_LIMIT}).")] = 50) -> dict:
        """List the tasks of the fleet's work queues (without their bodies), in file order."""
        return _run(tools.list_tasks, status=status, wizard=wizard, priority=priority, tag=tag, ready=ready,
                    limit=limit)

    @server.tool()
    def show_task(id: TaskId, wizard: InQueueOf = None) -> dict:
        """Show one task whole: its fields, its body (the prompt), who takes it, and who asked it."""
        return _run(tools.show_task, id=id, wizard=wizard)

    @server.tool()
    def add_task(
            title: Annotated[str, Field(description="One line.")],
            body: Annotated[str, Field(description="The prompt: what to do, in full.")] = "",
            priority: Annotated[str, Field(description="P0 (most urgent) to P3.")] = "P2",
            assignee: WizardName = None,
            depends: Annotated[list[str] | None, Field(description="IDs of tasks that must be COMPLETE first.")] = None,
            tags: Annotated[list[str] | None, Field(description="Words such as research or ops.")] = None,
            wizard: Annotated[str | None, Field(description="Whose queue it goes to (default: the assignee's, "
                                                            "else your own).")] = None) -> dict:
        """Append a task to a wizard's work queue, with the next free ID, in the style that file already uses."""
        return _run(tools.add_task, title=title, body=body, priority=priority, assignee=assignee, depends=depends,
                    tags=tags, wizard=wizard)

    @server.tool()
    def set_status(
            id: TaskId,
            status: Annotated[str, Field(description="PENDING, IN_PROGRESS, COMPLETE, FAILED or BLOCKED.")],
            expect: Annotated[str | None, Field(description="Change it only if its status is this now "
                                                            "(several: comma-separated).")] = None,
            reason: Annotated[str, Field(description="Why, for the event log.")] = "",
            wizard: InQueueOf = None) -> dict:
        """Set a task's status in its queue (only the status word changes)."""
        return _run(tools.set_status, id=id, status=status, expect=expect, reason=reason, wizard=wizard)

    @server.tool()
    def task_answer(id: TaskId, wizard: InQueueOf = None) -> dict:
        """The newest answer a wizard gave to a task, with how its run ended."""
        return _run(tools.task_answer, id=id, wizard=wizard)

    @server.tool()
    def fleet_status() -> dict:
        """Each wizard's state (Robed, Unrobed, Lobster, Dead), queue counts and running claims."""
        return _run(tools.fleet_status)

    @server.tool()
    def ask_wizard(
            wizard: Annotated[str, Field(description="Who to ask: a wizard's name.")],
            question: Annotated[str, Field(description="The question, with what the other wizard needs to answer.")],
            wait_seconds: Annotated[float, Field(description=f"How long to wait for the answer (0 to {MAX_WAIT_S}; "
                                                             "0: do not wait, read it later with inbox).")] = 120,
            priority: Annotated[str, Field(description="P0 (most urgent) to P3.")] = "P1") -> dict:
        """Ask another wizard a question: it becomes a task in that wizard's queue; wait for the answer."""
        return _run(tools.ask_wizard, wizard=wizard, question=question, wait_seconds=wait_seconds, priority=priority)

    @server.tool()
    def inbox(
            all: Annotated[bool, Field(description="Also the messages already read.")] = False,
            peek: Annotated[bool, Field(description="Leave unread messages unread.")] = False,
            limit: Annotated[int, Field(description=f"The newest this many (1-{MAX_LIMIT}).")] = 20) -> dict:
        """The answers to the questions you asked (unread ones are marked read)."""
        return _run(tools.inbox, all=all, peek=peek, limit=limit)


def _resources(server: RobeMCP, fleet: FleetConfig) -> None:
    """robe://queue/<wizard> for each queue file (named after its first reader), robe://report/latest."""
    seen: set[str] = set()
    for w in fleet.wizards:
        if queue_key(w.queue) in seen:
            continue
        seen.add(queue_key(w.queue))
        readers = [o.name for o in fleet.wizards if queue_key(o.queue) == queue_key(w.queue)]

        server.resource(f"robe://queue/{w.name}", name=f"queue of {', '.join(readers)}", mime_type="text/markdown",
                        description=f"The work queue {w.queue}, as it is now.")(_queue_reader(w.queue))

    def read_report() -> str:
        path = os.path.join(reports_dir(fleet), "latest.md")
        return _read_text(path, f"there is no progress report yet ({path}); 'robe report' writes one")

    server.resource("robe://report/latest", name="latest progress report", mime_type="text/markdown",
                    description="The fleet's latest progress report (robe report).")(read_report)


def _queue_reader(path: str):
    def read_queue() -> str:
        return _read_text(path, f"{path} does not exist; 'robe init' in the fleet's folder creates it")
    return read_queue


def _read_text(path: str, missing: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(64 * 1024 * 1024)
    except FileNotFoundError:
        raise ResourceError(missing) from None
    except OSError as e:
        raise ResourceError(f"cannot read {path}: {e.strerror}") from None


def serve(fleet_path: str | None, as_wizard: str | None = None) -> None:
    """Run the server on stdin/stdout until the client closes them (``robe mcp``)."""
    task = os.environ.get("ROBE_TASK_ID") if os.environ.get("ROBE_WIZARD", as_wizard) == as_wizard else None
    server = build(fleet_path, as_wizard, task)
    server.run("stdio")
