"""The parse of a text robe itself just wrote, without parsing it again.

robe run rewrites a queue file after every batch of claims and results, and reads it again
for the next pass. Those writes change status words only, in place, so the new parse is the
old one with those tasks' statuses changed and every offset after an edit moved by the
difference in length. ``after_status_edits`` builds that, and gives up (None: parse the
text) on anything else: a status written where none was (a new line), a text whose pieces
hold a line break, a task inside another's block. tests/queue/test_derive.py checks it against ``parse`` on generated queues.
Problems have lines, not offsets, and a status edit adds or removes no line.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from .edits import Outcome
from .model import Edit, Snapshot


def after_status_edits(old: Snapshot, new_text: str, pieces: list[tuple[int, int, str]],
                       outcomes: list[Outcome]) -> Snapshot | None:
    """``parse(new_text)``, derived from ``old`` and the sorted pieces that made ``new_text``."""
    for start, end, new in pieces:
        if start == end or "\n" in new or "\n" in old.text[start:end] or "\r" in new:
            return None
    changed = {o.task_id: o.after for o in outcomes if o.applied and o.reason != "unchanged"}
    if _nested(old, changed):
        return None
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

    def moved(task):
        e = task.edit
        if not pieces or (max(_offsets(e), default=-1) < starts[0]):
            return task
        return task._replace(edit=Edit(span(e.status_span), None if e.insert_at is None else shift(e.insert_at),
                                       e.insert_template, span(e.checkbox_span), span(e.cell_span)))

    by_piece = {p[0]: p for p in pieces}
    tasks = []
    for t in old.tasks:
        status = changed.get(t.id)
        if status is None:
            tasks.append(moved(t))
            continue
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
        tasks.append(t._replace(status=status, status_written=True,
                                edit=Edit(status_span, None, e.insert_template, span(e.checkbox_span), cell)))
    # robe's edit keeps a list task's box in step with its status: the warning that they
    # disagreed is gone for every task it changed (no other problem depends on a status)
    problems = tuple(p for p in old.problems if not (p.code == "checkbox" and p.task_id in changed))
    return old._replace(text=new_text, tasks=tuple(tasks), rejected=tuple(moved(t) for t in old.rejected),
                        problems=problems)


def _nested(old: Snapshot, changed: dict) -> bool:
    """Whether a changed task lies inside another task's block (a checklist under a section
    task is part of that task's body, which the edit then changes too)."""
    blocks = sorted((t.line, t.end_line) for t in (*old.tasks, *old.rejected))
    starts = [b[0] for b in blocks]
    reach, furthest = [], 0
    for _, end in blocks:
        furthest = max(furthest, end)
        reach.append(furthest)
    for t in old.tasks:
        if t.id in changed:
            k = bisect_left(starts, t.line)  # the blocks that start above this task
            if k and reach[k - 1] >= t.line:
                return True
    return False


def _offsets(e: Edit) -> list[int]:
    out = []
    for sp in (e.status_span, e.checkbox_span, e.cell_span):
        if sp is not None:
            out.append(sp[1])
    if e.insert_at is not None:
        out.append(e.insert_at)
    return out


def _count_before(starts: list[int], pieces, x: int) -> int:
    """How many pieces end at or before ``x``."""
    k = bisect_right(starts, x)
    # a piece that starts at x (an offset at the start of a replaced word) has not ended
    while k and pieces[k - 1][0] == x and pieces[k - 1][1] > x:
        k -= 1
    return k
