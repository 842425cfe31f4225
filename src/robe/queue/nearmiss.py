"""Near misses in a queue: what a person most likely meant where robe reads something else.

A word one letter from a status where a list task's status goes (``PENDNG``), a priority robe
does not know (``P7``), an Assignee that names nobody (``nobody``, ``none``, ``-``). Each is a
warning with its line (code ``near-miss``): the task stays usable, and the warning says what
robe reads instead. ``robe queue validate`` lists them and the dispatcher prints them.
"""

from __future__ import annotations

import re

from .model import STATUS_ALIASES, STATUS_WORDS, Problem

#: a word where a list task's priority goes that is no priority robe knows (P7, P10)
BAD_PRIORITY_RE = re.compile(r"[Pp][0-9]+")
#: Problem.code of a near miss: a warning the dispatcher prints too (the task stays usable)
NEAR_MISS = "near-miss"


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one letter added, removed, changed, or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def near_status(task_id: str, problems: list, path: str, line: int, word: str) -> None:
    """A warning for an upper-case (or wrapped) word after a list task's ID that is one edit
    from a status (``PENDNG``) or a word people use for one (``DONE``)."""
    up = word.upper()
    meant = STATUS_ALIASES.get(up) or next((s for s in STATUS_WORDS if one_edit_apart(up, s)), None)
    if meant is None:
        return
    problems.append(Problem(
        path, line, f"{task_id}: '{word}' is not a status (did you mean {meant}?); robe reads it as the first word "
        "of the title, and the task as PENDING" + (", so it may be dispatched" if meant != "PENDING" else ""),
        f"write {meant} if that is the status; statuses are " + ", ".join(STATUS_WORDS), task_id,
        severity="warning", code=NEAR_MISS))


def near_priority(task_id: str, problems: list, path: str, line: int, word: str, heading: str | None) -> None:
    """A warning for a list task's ``P7``: no priority robe knows, so it takes its heading's or
    the default, and the word is left out of the title."""
    falls_back = f"its heading's {heading}" if heading else "the default priority"
    problems.append(Problem(
        path, line, f"{task_id}: '{word}' is not a priority; robe leaves it out of the title and gives the task "
        f"{falls_back}", "priorities are P0 (most urgent), P1, P2 and P3", task_id, severity="warning",
        code=NEAR_MISS))


def near_nobody(task_id: str, problems: list, path: str, line: int, value: str) -> None:
    """A warning for ``Assignee: nobody`` (or ``none``, ``-``): it means no assignee."""
    problems.append(Problem(
        path, line, f"{task_id}'s Assignee '{value}' means no assignee: robe routes it like a task without one (the "
        "first route that fits, else the queue's own wizard, else default_wizard)",
        "delete the line if that is what you mean, or name a wizard to take it", task_id, severity="warning",
        code=NEAR_MISS))
