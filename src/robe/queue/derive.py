"""The parse of a text robe itself just wrote, without parsing it again.

robe run rewrites a queue file after every batch of claims and results, and reads it again
for the next pass. Those writes change status words only, in place, so the new parse is the
old one with those tasks' statuses changed and every offset after an edit moved by the
difference in length. A task written inside another's block (a checklist under a section
task) is part of that task's body too: the line it changed is changed there as well.
``after_status_edits`` builds that, and gives up (None: parse the text) on anything else: a
status written where none was (a new line), a text whose pieces hold a line break, a changed
line that is not found exactly once as a whole line of an enclosing task's body (a list
task's sub-items, whose body lines lose their indent). tests/queue/test_derive.py checks it
against ``parse`` on generated queues.
Problems have lines, not offsets, and a status edit adds or removes no line.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import attrgetter

from .edits import Outcome
from .model import Edit, Snapshot


def after_status_edits(old: Snapshot, new_text: str, pieces: list[tuple[int, int, str]],
                       outcomes: list[Outcome]) -> Snapshot | None:
    """``parse(new_text)``, derived from ``old`` and the sorted pieces that made ``new_text``."""
    for start, end, new in pieces:
        if start == end or "\n" in new or "\n" in old.text[start:end] or "\r" in new:
            return None
    changed = {o.task_id: o.after for o in outcomes if o.applied and o.reason != "unchanged"}
    inside = _enclosing(old, changed)
    starts = [p[0] for p in pieces]
    ends = []
    total = 0
    for start, end, new in pieces:
        total += len(new) - (end - start)
        ends.append(total)

    def shift(x: int) -> int:
        """Where offset ``x`` of the old text is in the new one (``x`` not inside a piece)."""
        k = _count_before(starts, pieces, x)
        return x + (ends[k - 1] if k else 0)

    def span(sp):
        return None if sp is None else (shift(sp[0]), shift(sp[1]))

    # A task's offsets lie in its own block: one that ends above the first piece keeps them,
    # one that starts below the last moves by the whole difference.
    first_line = old.text.count("\n", 0, starts[0]) + 1 if pieces else None
    last_line = old.text.count("\n", starts[0], starts[-1]) + first_line if pieces else None

    def moved(task):
        if first_line is None or task.end_line < first_line:
            return task
        e = task.edit
        if task.line > last_line:
            return task._replace(edit=_plus_all(e, total)) if total else task
        offsets = _offsets(e)
        if not offsets:
            return task
        lo, hi = min(offsets), max(offsets)
        k = _count_before(starts, pieces, lo)
        if k == _count_before(starts, pieces, hi):  # no piece between: one distance for all
            d = ends[k - 1] if k else 0
            if not d:
                return task
            return task._replace(edit=_plus_all(e, d))
        return task._replace(edit=Edit(span(e.status_span), None if e.insert_at is None else shift(e.insert_at),
                                       e.insert_template, span(e.checkbox_span), span(e.cell_span)))

    by_piece = {p[0]: p for p in pieces}

    def made(t):
        """``t`` after the edits (None: it cannot be derived)."""
        status = changed.get(t.id)
        if status is None:
            return moved(t)
        e = t.edit
        if e.status_span is None:
            return None
        word = status.value
        if e.cell_span is not None:  # the whole cell was rewritten (kept aligned)
            a, b = e.cell_span
            piece = by_piece.get(a)
            if piece is None or piece[1] != b:
                return None
            na = shift(a)
            s0 = na + (e.status_span[0] - a)
            cell, status_span = (na, na + len(piece[2])), (s0, s0 + len(word))
        else:
            s0 = shift(e.status_span[0])
            cell, status_span = None, (s0, s0 + len(word))
        if new_text[status_span[0]:status_span[1]] != word:
            return None
        return t._replace(status=status, status_written=True,
                          edit=Edit(status_span, None, e.insert_template, span(e.checkbox_span), cell))

    # Only the tasks from the first edited line on, and those above it whose block reaches it,
    # can change (a 100,000-task queue is not walked task by task for an edit near its end).
    tasks = list(old.tasks)
    if pieces:
        lo = bisect_left(tasks, first_line, key=attrgetter("line"))
        for k in [k for k in range(lo) if tasks[k].end_line >= first_line] + list(range(lo, len(tasks))):
            t = made(tasks[k])
            if t is None:
                return None
            tasks[k] = t
    rejected = [moved(t) for t in old.rejected]
    if inside:
        lines = {}  # old line -> new line, for each changed task inside another's block
        for tid in {c for cs in inside.values() for c in cs}:
            a = old.text.rfind("\n", 0, old.get(tid).edit.status_span[0]) + 1
            b = old.text.find("\n", a)
            na = shift(a)
            nb = new_text.find("\n", na)
            lines[tid] = (old.text[a:b if b >= 0 else None], new_text[na:nb if nb >= 0 else None])
        for group in (tasks, rejected):
            for k, t in enumerate(group):
                if t.id in inside and t.line in inside[t.id].lines:
                    body = _edit_lines(t.body, [lines[c] for c in inside[t.id]])
                    if body is None:
                        return None
                    group[k] = t._replace(body=body)
    # robe's edit keeps a list task's box in step with its status: the warning that they
    # disagreed is gone for every task it changed (no other problem depends on a status)
    def kept(ps):
        return tuple(p for p in ps if not (p.code == "checkbox" and p.task_id in changed))

    basis = old.basis and old.basis._replace(own=kept(old.basis.own))
    return old._replace(text=new_text, tasks=tuple(tasks), rejected=tuple(rejected), problems=kept(old.problems),
                        basis=basis)


class _Inside(list):
    """The changed tasks inside one task's block (``lines``: that task's lines, to tell two
    tasks of one ID apart)."""

    lines: range


def _enclosing(old: Snapshot, changed: dict) -> dict[str, _Inside]:
    """For each task whose block holds a changed task (a checklist under a section task is
    part of that task's body), the IDs of the changed tasks inside it."""
    out: dict[str, _Inside] = {}
    lines = [(t.line, t.id) for t in old.tasks if t.id in changed]
    if not lines:
        return out
    lowest = min(line for line, _ in lines)
    # (most tasks are one line, or end above every changed one: nothing inside)
    for o in [o for o in (*old.tasks, *old.rejected) if o.end_line > o.line and o.end_line >= lowest]:
        for line, tid in lines:
            if o.line < line <= o.end_line:
                group = out.setdefault(o.id, _Inside())
                group.lines = range(o.line, o.end_line + 1)
                group.append(tid)
    return out


def _edit_lines(body: str, changes: list[tuple[str, str]]) -> str | None:
    """``body`` with each (old line, new line) made, each old line found exactly once as a
    whole line; None when one is not."""
    text = "\n" + body + "\n"
    for old, new in changes:
        if text.count("\n" + old + "\n") != 1:
            return None
        text = text.replace("\n" + old + "\n", "\n" + new + "\n")
    return text[1:-1]


def _offsets(e: Edit) -> list[int]:
    out = [x for sp in (e.status_span, e.checkbox_span, e.cell_span) if sp is not None for x in sp]
    if e.insert_at is not None:
        out.append(e.insert_at)
    return out


def _plus(sp, d: int):
    return None if sp is None else (sp[0] + d, sp[1] + d)


def _plus_all(e: Edit, d: int) -> Edit:
    """``e`` with every offset moved by ``d``."""
    return Edit(_plus(e.status_span, d), None if e.insert_at is None else e.insert_at + d, e.insert_template,
                _plus(e.checkbox_span, d), _plus(e.cell_span, d))


def _count_before(starts: list[int], pieces, x: int) -> int:
    """How many pieces end at or before ``x``."""
    k = bisect_right(starts, x)
    # a piece that starts at x (an offset at the start of a replaced word) has not ended
    while k and pieces[k - 1][0] == x and pieces[k - 1][1] > x:
        k -= 1
    return k
