"""Asking: a question from one wizard (or a person) to another, and the inbox its answer goes to.

An ask is a task in the target wizard's queue, tagged ``ask`` and carrying who asked
(``robe.queue.asks``). It is dispatched and run like any task. When the monitor folds its
result (COMPLETE, or FAILED for good), it writes the answer to the asker's inbox
(``robe.inbox.Inbox``: ``<house>/inbox/`` for a wizard, ``<root>/inbox/`` for a person);
``wait`` watches that inbox. ``robe ask``, ``robe inbox`` and the MCP server's
``ask_wizard`` and ``inbox`` tools all come here.

What is refused, so wizards cannot loop, flood or deadlock one another:

- a chain of asks deeper than ``MAX_DEPTH`` (A asks B asks C asks D asks E);
- a wizard asking itself, or a wizard already in the chain (A asks B asks A);
- more than ``max_open_asks`` (fleet.yaml, default 5) unanswered asks from one asker.

A wait gives up at its deadline (``AskTimeout``; the question stays asked and its answer
still arrives in the inbox), and the dispatcher gives an ask a slot even when the target's
slots are all held by tasks that wait on asks (``robe.dispatch``), so an ask never waits for a
slot its own asker holds.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Callable

from .clock import stamp
from .errors import RobeError
from .fleet.model import FleetConfig
from .house import COMPLETE, House
from .inbox import Inbox, answer_message, inbox_for
from .queue import PRIORITIES, QueueError, Snapshot, is_valid_id, load
from .queue.api import Queue
from .queue.asks import ASK_TAG, Ask, ask_of, body_for, clean, fields_for, is_label, is_open, title_for
from .queue.events import person
from .routing import queue_key

log = logging.getLogger(__name__)

#: the deepest chain of asks: A's task asks B, B's asks C, C's asks D; D may not ask on
MAX_DEPTH = 3
#: the priority of an ask unless the asker says otherwise: a wizard waits for it
ASK_PRIORITY = "P1"
MAX_QUESTION_BYTES = 64 * 1024
#: how often a wait looks at the inbox (seconds)
POLL_S = 0.05


class AskError(RobeError):
    """A question robe refuses to send (a loop, a flood, a bad target); nothing was written."""


class AskTimeout(RobeError):
    """No answer came before the deadline; the question stays asked."""


@dataclass(frozen=True)
class Ticket:
    """A question that was asked: its task (``id`` in ``queue``), who it went to and who asked."""

    id: str
    wizard: str
    queue: str
    asker: str
    chain: tuple[str, ...]
    asked_at: str
    priority: str
    title: str
    inbox: str
    question: str = ""
    #: the asker's task that asked, if it asked from one
    ask_task: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "wizard": self.wizard, "queue": self.queue, "asker": self.asker,
                "chain": list(self.chain), "asked_at": self.asked_at, "priority": self.priority,
                "title": self.title, "inbox": self.inbox, "ask_task": self.ask_task}


def person_label() -> str:
    """How a person appears as an asker: ``user@host`` (never a wizard's name: it has an @)."""
    label = person().removeprefix("person:")
    return re.sub(r"[^A-Za-z0-9._@-]", "-", label).lstrip("._@-") or "someone@here"


def inbox_of(fleet: FleetConfig, who: str | None) -> Inbox:
    """The inbox of wizard ``who``, or the fleet's people's inbox (``<root>/inbox/``) for anyone else."""
    return inbox_for(who, {w.name: w.house for w in fleet.wizards}, fleet.root)


def _asker(fleet: FleetConfig, asker: str | None) -> str:
    if asker is None:
        return person_label()
    fleet.wizard(asker)  # FleetError naming the wizards there are
    return asker


def context(fleet: FleetConfig, asker: str, task_id: str | None = None) -> tuple[tuple[str, ...], str | None]:
    """The chain of askers that led to the task ``asker`` runs now, and that task's ID.

    The task is ``task_id`` (the executor gives an agent ``ROBE_TASK_ID``) when it is one of the
    asker's claims; else the asker's one running claim. With several running and none named,
    the chains of all of them count together (a loop through any is refused, and the depth is
    counted on the merged chain) and no task is named.
    """
    w = next((x for x in fleet.wizards if x.name == asker), None)
    if w is None:
        return (), None
    house = House(w.house, w.name)
    running = [t for t in house.claim_ids() if not house.has_result(t)]
    if task_id and is_valid_id(task_id) and task_id in running:
        running = [task_id]
    chains: list[tuple[str, ...]] = []
    for tid in running:
        rec = house.claim_record(tid) or {}
        ask = rec.get("ask") if isinstance(rec.get("ask"), dict) else None
        chain = ask.get("chain") if ask else None
        if isinstance(chain, list) and all(isinstance(c, str) and is_label(c) for c in chain):
            chains.append(tuple(chain))
    if not chains:
        return (), running[0] if len(running) == 1 else None
    longest = max(chains, key=len)
    # Everyone on any running chain, the longest chain's order first: the loop check sees all.
    merged = tuple(dict.fromkeys(longest + tuple(c for chain in chains for c in chain)))
    return merged, running[0] if len(running) == 1 else None


def _queues(fleet: FleetConfig) -> dict[str, str]:
    """queue key -> path of every queue file of the fleet (wizards may share one)."""
    out: dict[str, str] = {}
    for w in fleet.wizards:
        out.setdefault(queue_key(w.queue), w.queue)
    return out


def open_asks(fleet: FleetConfig, asker: str) -> list[tuple[str, str]]:
    """(queue path, task ID) of every ask from ``asker`` that has no answer yet, in any queue."""
    found = []
    for path in _queues(fleet).values():
        if not os.path.exists(path):
            continue
        try:
            snap = load(path, default_priority=fleet.default_priority)
        except QueueError:
            continue
        for t in snap.tasks:
            a = ask_of(t)
            if a is not None and a.asked_by == asker and is_open(t):
                found.append((path, t.id))
    return found


def check(fleet: FleetConfig, target: str, asker: str, chain: tuple[str, ...]) -> None:
    """AskError when ``asker``, whose task came down ``chain`` (the askers before it), asking
    ``target`` would loop, go too deep, or flood the fleet."""
    if target == asker:
        raise AskError(f"{asker} cannot ask itself; answer the question in this task, or ask another wizard")
    path = " -> ".join(chain + (asker, target))
    if target in chain:
        raise AskError(f"{target} is already in this chain of questions ({path}); asking it again would make a "
                       "loop: answer with what you know")
    if len(chain) + 1 > MAX_DEPTH:
        raise AskError(f"this question would be {len(chain) + 1} asks deep ({path}); robe allows {MAX_DEPTH}: "
                       "answer with what you know")
    waiting = open_asks(fleet, asker)
    if len(waiting) >= fleet.max_open_asks:
        ids = ", ".join(tid for _, tid in waiting[:8])
        raise AskError(f"{asker} already has {len(waiting)} unanswered questions ({ids}); robe allows "
                       f"{fleet.max_open_asks} at once (max_open_asks in {fleet.path}): wait for their answers "
                       "in the inbox first")


def body_style(snap: Snapshot) -> str | None:
    """The style for a new task with a body: the file's own (None), except "section" when the
    file keeps its tasks in a table, which has no room for a body."""
    every = list(snap.tasks) + list(snap.rejected)
    return "section" if every and max(every, key=lambda t: t.line).style == "table" else None


def ask(fleet: FleetConfig, target: str, question: str, *, asker: str | None = None, task_id: str | None = None,
        priority: str = ASK_PRIORITY) -> Ticket:
    """Put ``question`` for wizard ``target`` in its queue, as ``asker`` (a wizard; a person when
    None) asking from its task ``task_id`` (see ``context``). AskError when refused."""
    w = fleet.wizard(target)
    who = _asker(fleet, asker)
    text = clean(question or "").strip("\n")
    if not text.strip():
        raise AskError("the question is empty; write what you want to know")
    if len(text.encode("utf-8")) > MAX_QUESTION_BYTES:
        raise AskError(f"the question is larger than {MAX_QUESTION_BYTES // 1024} KiB; put the material in a file "
                       "and ask about the file")
    pri = (priority or "").strip().upper()
    if pri not in PRIORITIES:
        raise AskError(f"unknown priority {priority!r}; use P0 (most urgent) to P3")
    chain, asking = context(fleet, who, task_id) if asker else ((), None)
    check(fleet, target, who, chain)
    if not os.path.exists(w.queue):
        raise AskError(f"wizard {target} has no queue at {w.queue}; create it (robe init builds what is missing)")
    queue = Queue(w.queue, default_priority=fleet.default_priority)
    asked_at = stamp()
    made = Ask(who, chain + (who,), asking)
    task = queue.add(title_for(who, text), priority=pri, assignee=target, tags=[ASK_TAG], body=body_for(who, text),
                     style=body_style(queue.read()), fields=fields_for(made),
                     by=f"wizard:{who}" if asker else None)
    log.info("wizard %s: asked %s (%s in %s)", who, target, task.id, w.queue)
    return Ticket(task.id, target, os.path.realpath(w.queue), who, made.chain, asked_at, pri, task.title,
                  inbox_of(fleet, who).folder, text, asking)


def _answer_to(msg: dict, ticket: Ticket) -> bool:
    return (msg.get("from") == ticket.wizard and msg.get("task") == ticket.id
            and os.path.realpath(str(msg.get("queue") or "")) == ticket.queue
            and str(msg.get("sent_at") or "") >= ticket.asked_at)


def _finished(fleet: FleetConfig, ticket: Ticket) -> dict | None:
    """The answer as a message when the target's executor has written a COMPLETE result that the
    monitor has not folded yet (COMPLETE is final: no retry follows). A FAILED result may still
    be retried, so for it the monitor decides; None until then."""
    w = next((x for x in fleet.wizards if x.name == ticket.wizard), None)
    if w is None:
        return None
    house = House(w.house, w.name)
    rec = house.claim_record(ticket.id)
    if not rec or os.path.realpath(str(rec.get("queue") or "")) != ticket.queue:
        return None  # not dispatched yet, already folded (the inbox has it), or another queue's task
    res = house.read_result(ticket.id)
    if res is None or res.status != COMPLETE:
        return None
    return answer_message(sender=w.name, to=ticket.asker, task_id=ticket.id, queue=ticket.queue, status=COMPLETE,
                          attempt=res.attempt or house.claim_attempt(ticket.id), title=ticket.title,
                          question=ticket.question, answer=house.read_answer(ticket.id) or "", error=None,
                          ask_task=ticket.ask_task, chain=ticket.chain)


def wait(fleet: FleetConfig, ticket: Ticket, timeout: float, *, poll: float = POLL_S,
         stop: Callable[[], bool] | None = None) -> dict:
    """The answer to ``ticket``, as soon as there is one: from the asker's inbox (the monitor
    delivers it there), or straight from the target's COMPLETE result, which is then put in the
    inbox as read. AskTimeout after ``timeout`` seconds (or when ``stop()`` says so)."""
    inbox = Inbox(ticket.inbox)
    deadline = time.monotonic() + max(timeout, 0.0)
    prefix = f"{ticket.wizard}.{ticket.id}."
    while True:
        for msg in inbox.messages(include_read=True, prefix=prefix):
            if _answer_to(msg, ticket):
                if not msg["read"]:
                    msg["read"] = inbox.mark_read(msg["id"])
                return msg
        early = _finished(fleet, ticket)
        if early is not None and inbox.deliver(early, read=True):
            return dict(early, read=True)
        if time.monotonic() >= deadline or (stop is not None and stop()):
            break
        time.sleep(poll)
    raise AskTimeout(f"{ticket.wizard} has not answered {ticket.id} within {timeout:g} s; the question stays in "
                     f"{ticket.wizard}'s queue and its answer will come to {ticket.inbox} "
                     f"(read it with 'robe inbox{'' if '@' in ticket.asker else ' ' + ticket.asker}')")


def inbox(fleet: FleetConfig, who: str | None = None, *, include_read: bool = False,
          mark_read: bool = True) -> list[dict]:
    """The messages in the inbox of wizard ``who`` (the people's inbox when None), oldest first;
    the unread ones are marked read unless ``mark_read`` is False."""
    if who is not None:
        fleet.wizard(who)
    box = inbox_of(fleet, who)
    found = box.messages(include_read=include_read)
    if mark_read:
        for msg in found:
            if not msg["read"]:
                box.mark_read(msg["id"])
    return found

