"""An ask as a queue holds it: a task tagged ``ask`` whose fields say who asked.

A question one wizard (or a person) sends another is a task in the target's queue
(DESIGN.md, "ask"), assigned to the target, tagged ``ask``, and carrying:

| field       | value                                                                  |
|-------------|------------------------------------------------------------------------|
| ``Asked-By``  | the wizard that asked, or ``user@host`` for a person                  |
| ``Ask-Chain`` | every asker on the way to this question, first to last (the asker last) |
| ``Ask-Task``  | the asker's own task that asked, when it asked from inside one        |

The question is the task's body, quoted (``> `` before every line), so nothing in it can
become a heading, a task or a table of the queue. Plain functions: nothing here touches a file.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from .model import Status, Task, is_valid_id

ASK_TAG = "ask"
ASKED_BY, ASK_CHAIN, ASK_TASK = "Asked-By", "Ask-Chain", "Ask-Task"
#: an ask whose task has one of these statuses still waits for its answer
OPEN = (Status.PENDING, Status.IN_PROGRESS, Status.BLOCKED)
TITLE_WIDTH = 72
_LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*\Z")


class Ask(NamedTuple):
    """Who asked a question: ``asked_by``, the ``chain`` of askers that led to it (the asker
    last), and the asker's ``task`` that asked (None when it asked from outside a task)."""

    asked_by: str
    chain: tuple[str, ...]
    task: str | None = None

    @property
    def depth(self) -> int:
        """How many asks deep this question is (1: asked from a task that is no ask)."""
        return len(self.chain)


def field(task: Task, key: str) -> str | None:
    """The value of the task's field ``key`` (any case), or None."""
    want = key.lower()
    for k, v in task.fields:
        if k.strip().lower() == want:
            return v.strip()
    return None


def is_label(text: str) -> bool:
    """A name an ask can carry: a wizard's name or a person's ``user@host``."""
    return bool(_LABEL_RE.match(text or "")) and len(text) <= 128


def ask_of(task: Task) -> Ask | None:
    """The ask a task carries, or None for an ordinary task (no usable ``Asked-By``)."""
    asked_by = field(task, ASKED_BY)
    if not asked_by or not is_label(asked_by):
        return None
    chain = tuple(c.strip() for c in (field(task, ASK_CHAIN) or "").split(",") if is_label(c.strip()))
    if not chain or chain[-1] != asked_by:
        chain = chain + (asked_by,)
    asking = field(task, ASK_TASK)
    return Ask(asked_by, chain, asking if asking and is_valid_id(asking) else None)


def is_open(task: Task) -> bool:
    """An ask that has no answer yet (its task is not COMPLETE or FAILED)."""
    return task.status in OPEN


def fields_for(ask: Ask) -> tuple[tuple[str, str], ...]:
    """The fields that record ``ask`` on its task, in the order they are written."""
    out = [(ASKED_BY, ask.asked_by), (ASK_CHAIN, ", ".join(ask.chain))]
    if ask.task:
        out.append((ASK_TASK, ask.task))
    return tuple(out)


def clean(text: str) -> str:
    """``text`` with Unix line ends and without control characters (a NUL would make the whole
    queue unreadable; a lone carriage return would end a line for some readers only)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def title_for(asker: str, question: str) -> str:
    """``Question from ezra: <the question's first line>``, cut to one short line."""
    first = next((ln.strip() for ln in clean(question).split("\n") if ln.strip()), "")
    title = f"Question from {asker}: {' '.join(first.split())}"
    return title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1].rstrip() + "…"


def body_for(asker: str, question: str) -> str:
    """The task's body: who asks, then the question quoted line by line."""
    lines = clean(question).strip("\n").split("\n")
    quoted = "\n".join(f"> {ln}" if ln.strip() else ">" for ln in lines)
    return f"{asker} asks (your reply to this task is sent back to {asker}):\n\n{quoted}\n"


def question_of(task: Task) -> str:
    """The question as it was asked: the quoted lines of the task's body, unquoted."""
    lines = [ln.lstrip() for ln in task.body.split("\n")]
    quoted = [ln[1:].removeprefix(" ") for ln in lines if ln.startswith(">")]
    return "\n".join(quoted).strip("\n") if quoted else task.body.strip("\n")
