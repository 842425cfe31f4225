"""Surgical edits of queue text: pure functions from a parsed text to a new text (``writes``
applies them to files through the one writer).

A status change rewrites only the status word (and a list task's checkbox: ``[x]`` for
COMPLETE, ``[ ]`` otherwise; and the padding of a table cell, so columns stay aligned).
Writing a status where none was written is the only structural edit. Every other byte stays.
A priority change likewise rewrites only the priority word, or writes one where none was
written (a ``Priority:`` field, the word after a list task's ID, an empty table cell).
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from .blocks import BLANK, ITEM, indent_of, pipe_inner, row_cells, split_cells, split_lines
from .checks import next_free_id
from .model import (PRIORITIES, STATUS_ALIASES, STATUS_WORDS, ConflictError, QueueError, Snapshot, Status, Task,
                    is_valid_id, parse_priority)
from .scan import CHECKBOX_RE, ID_AT_START, Text, field_block, first_word, inline_words, parse


class Change(NamedTuple):
    """Set ``task_id`` to ``status``, provided its status is one of ``expect`` (any if empty)."""

    task_id: str
    status: Status
    expect: tuple[Status, ...] = ()


class Outcome(NamedTuple):
    """What became of one Change: the status before and after, and why it was refused."""

    task_id: str
    before: Status | None
    after: Status | None
    applied: bool
    reason: str = ""
    #: False when the file has no task of that ID at all (True: it is there, maybe unreadable now)
    in_file: bool = True


def _replacements(task: Task, status: Status) -> list[tuple[int, int, str]]:
    """(start, end, new text) pieces that set ``task``'s status in the text it came from."""
    e = task.edit
    word = status.value
    out = []
    if e.status_span is not None:
        out.append((e.status_span[0], e.status_span[1], word))
    elif e.insert_at is not None:
        out.append((e.insert_at, e.insert_at, e.insert_template.format(status=word)))
    else:
        raise QueueError(f"robe cannot find where to write {task.id}'s status (line {task.line})")
    if e.checkbox_span is not None:
        out.append((e.checkbox_span[0], e.checkbox_span[1], "x" if status is Status.COMPLETE else " "))
    return out


def _align_cell(text: str, task: Task, pieces: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """For a table task, rewrite the whole cell so its width stays the same where it can."""
    if task.edit.cell_span is None:
        return pieces
    a, b = task.edit.cell_span
    cell = text[a:b]
    start, end, new = pieces[0]
    new_cell = cell[: start - a] + new + cell[end - a:]
    grow = len(new_cell) - len(cell)
    if grow > 0:
        # Take the extra width from trailing spaces beyond the one that separates the pipe.
        trail = len(new_cell) - len(new_cell.rstrip(" "))
        cut = min(grow, max(trail - 1, 0))
        if cut:
            new_cell = new_cell[: len(new_cell) - cut]
    elif grow < 0 and cell.endswith(" "):
        new_cell = new_cell + " " * (-grow)
    return [(a, b, new_cell)] + pieces[1:]


def apply_changes(queue: Snapshot, changes: Iterable[Change]) -> tuple[str, list[Outcome]]:
    """The queue's text with ``changes`` applied, and what happened to each.

    A change whose task is missing or whose status is not among its ``expect`` is refused
    (``applied=False`` with the reason); the others still apply.
    """
    text, outcomes, _ = plan_changes(queue, changes)
    return text, outcomes


def plan_changes(queue: Snapshot, changes: Iterable[Change]) -> tuple[str, list[Outcome], list[tuple[int, int, str]]]:
    """``apply_changes``, also giving the sorted (start, end, new text) pieces it put in."""
    pieces: list[tuple[int, int, str]] = []
    outcomes = []
    seen = set()
    by_id = queue.by_id()
    for ch in changes:
        task = by_id.get(ch.task_id)
        if task is None:
            why = "it has errors (see robe queue validate)" if ch.task_id in queue.all_ids else "it is not in the queue"
            outcomes.append(Outcome(ch.task_id, None, None, False, f"{ch.task_id} cannot be changed: {why}",
                                    in_file=ch.task_id in queue.all_ids))
        elif ch.expect and task.status not in ch.expect:
            want = " or ".join(s.value for s in ch.expect)
            outcomes.append(Outcome(ch.task_id, task.status, task.status, False,
                                    f"{ch.task_id} is {task.status.value} now, not {want}; nothing was changed"))
        elif ch.task_id in seen:
            outcomes.append(Outcome(ch.task_id, task.status, task.status, False,
                                    f"{ch.task_id} was changed twice in one write"))
        elif task.status is ch.status and task.status_written:
            seen.add(ch.task_id)
            outcomes.append(Outcome(ch.task_id, task.status, ch.status, True, "unchanged"))
        else:
            seen.add(ch.task_id)
            pieces.extend(_align_cell(queue.text, task, _replacements(task, ch.status)))
            outcomes.append(Outcome(ch.task_id, task.status, ch.status, True))
    pieces.sort(key=lambda p: (p[0], p[1]))
    return _splice(queue.text, pieces), outcomes, pieces


def _splice(text: str, pieces: list[tuple[int, int, str]]) -> str:
    """``text`` with the sorted (start, end, new) ``pieces`` put in."""
    if not pieces:
        return text
    out = []
    pos = 0
    for start, end, new in pieces:
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --- add -----------------------------------------------------------------------------------


class NewTask(NamedTuple):
    """A task to append to a queue (its ID is the next free one)."""

    title: str
    priority: str = "P2"
    assignee: str | None = None
    depends: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    body: str = ""
    status: Status = Status.PENDING
    #: other ``Key: Value`` fields, written after the known ones (not in a table: it has no room)
    fields: tuple[tuple[str, str], ...] = ()


def _check_new(task: NewTask) -> None:
    if not task.title.strip():
        raise QueueError("a task needs a title")
    if "\n" in task.title or "\r" in task.title:
        raise QueueError("a task's title must be one line; put the rest in --body")
    if task.priority not in PRIORITIES:
        raise QueueError(f"unknown priority '{task.priority}'; use P0 (most urgent) to P3")
    for d in task.depends:
        if not is_valid_id(d):
            raise QueueError(f"'{d}' is not a task ID; depends takes IDs such as TASK-001")
    for key, value in task.fields:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 _-]*", key) or "\n" in value or "\r" in value:
            raise QueueError(f"'{key}: {value}' cannot be written as a field; a field is one line, 'Key: Value'")


def _style_of(queue: Snapshot) -> str:
    return queue.tasks[-1].style if queue.tasks else (queue.rejected[-1].style if queue.rejected else "section")


def render_add(queue: Snapshot, new: NewTask, style: str | None = None, task_id: str | None = None) -> tuple[str, str]:
    """The queue text with ``new`` appended in the file's style; returns (text, new ID)."""
    _check_new(new)
    for d in new.depends:
        if d not in queue.all_ids:
            raise QueueError(f"{d} is not in the queue; a new task can only depend on existing tasks")
    tid = task_id or next_free_id(queue.all_ids)
    if tid in queue.all_ids:
        raise QueueError(f"{tid} is already in the queue")
    style = style or _style_of(queue)
    nl = queue.newline
    text = queue.text
    every = list(queue.tasks) + list(queue.rejected)
    last = max((t for t in every if t.style == style), key=lambda t: t.line, default=None)
    if style == "table":
        if last is None:
            raise QueueError("the queue has no task table to add a row to; use --style section or list")
        if new.body.strip():
            raise QueueError("this queue keeps tasks in a table, which has no room for a body; "
                             "add it with --style section, or leave the body out")
        return _insert_after_line(text, last.line, _table_row(queue, last, tid, new), nl), tid
    if style == "list":
        if last is None:
            line = _list_line(None, tid, new, nl)
            return _append(text, line, nl), tid
        return _insert_after_line(text, last.end_line, _list_line(queue, tid, new, nl, last), nl), tid
    level = 3
    if last is not None:
        lines, _ = split_lines(text)
        first = lines[last.line - 1].lstrip()
        level = len(first) - len(first.lstrip("#")) or 3
    return _append(text, _section(tid, new, nl, level), nl, blank_before=True), tid


def _fields(new: NewTask) -> list[tuple[str, str]]:
    out = [("Priority", new.priority), ("Status", new.status.value)]
    if new.assignee:
        out.append(("Assignee", new.assignee))
    if new.depends:
        out.append(("Depends", ", ".join(new.depends)))
    if new.tags:
        out.append(("Tags", ", ".join(new.tags)))
    return out + list(new.fields)


def _section(tid: str, new: NewTask, nl: str, level: int) -> str:
    lines = [f"{'#' * level} {tid}: {new.title.strip()}"]
    lines += [f"- {k}: {v}" for k, v in _fields(new)]
    body = new.body.strip("\n")
    if body:
        lines.append("")
        lines += body.replace("\r\n", "\n").split("\n")
    return nl.join(lines) + nl


def _list_line(queue: Snapshot | None, tid: str, new: NewTask, nl: str, last: Task | None = None) -> str:
    indent, marker, box = "", "-", "[ ] "
    if queue is not None and last is not None:
        lines, _ = split_lines(queue.text)
        src = lines[last.line - 1]
        m = re.match(r"([ \t]*)([-+*]|[0-9]{1,9}[.)])[ \t]+(\[[ xX]\][ \t]+)?", src)
        if m:
            indent, marker = m.group(1), m.group(2)
            box = "[ ] " if m.group(3) else ""
            if marker[:-1].isdigit():
                marker = f"{int(marker[:-1]) + 1}{marker[-1]}"
    if box and new.status is Status.COMPLETE:
        box = "[x] "
    head = f"{indent}{marker} {box}{tid} {new.priority} {new.status.value} {new.title.strip()}"
    pad = indent + " " * (len(marker) + 1)
    extra = []
    for k, v in _fields(new)[2:]:
        extra.append(f"{pad}- {k}: {v}")
    body = new.body.strip("\n")
    if body:
        if extra:
            extra.append("")
        extra += [pad + ln if ln.strip() else "" for ln in body.replace("\r\n", "\n").split("\n")]
    return nl.join([head] + extra) + nl


def _table_row(queue: Snapshot, last: Task, tid: str, new: NewTask) -> str:
    """A row for the table that holds ``last``, with cells in that table's column order."""
    lines, _ = split_lines(queue.text)
    j = last.line - 1
    while j > 1 and not lines[j].lstrip(" |:").startswith("-"):
        j -= 1  # up to the delimiter row; the header is the line above it
    header = lines[j - 1]
    pipe = pipe_inner(header) is not None
    names = [header[a:b].strip().strip("*_` ").lower() for a, b in row_cells(header, pipe)]
    values = {"id": tid, "status": new.status.value, "task": new.title.strip(), "title": new.title.strip(),
              "priority": new.priority, "assignee": new.assignee or "", "depends": ", ".join(new.depends),
              "tags": ", ".join(new.tags)}
    cells = [values.get(n, "").replace("|", "\\|") for n in names]
    row = lines[last.line - 1]
    lead = row[: len(row) - len(row.lstrip())]
    out = lead + ("| " + " | ".join(cells) + " |" if pipe else " | ".join(cells).strip())
    return out + queue.newline


def _insert_after_line(text: str, line_no: int, new: str, nl: str) -> str:
    """``new`` (ending in a newline) inserted after 1-based line ``line_no``."""
    lines, offsets = split_lines(text)
    if line_no < len(lines):
        at = offsets[line_no]
        return text[:at] + new + text[at:]
    return _append(text, new, nl)


def _append(text: str, new: str, nl: str, blank_before: bool = False) -> str:
    if text and not text.endswith("\n"):
        text += nl
    if blank_before and text.strip("\ufeff") and not text.endswith(nl + nl) and not text.endswith("\n\n"):
        text += nl
    return text + new


STYLES = ("section", "list", "table")


def add_text(queue: Snapshot, new: NewTask, style: str | None = None, task_id: str | None = None) -> tuple[str, str]:
    """``render_add``, checked: the new task must read back exactly as asked, or QueueError and
    nothing is to be written. Returns (text, new ID)."""
    if style not in (None, *STYLES):
        raise QueueError(f"unknown style '{style}'; use section, list or table")
    text, tid = render_add(queue, new, style, task_id)
    check = parse(text, queue.path).get(tid)
    if check is None or check.title != new.title.strip() or check.status is not new.status:
        raise QueueError(f"robe could not add the task cleanly to {queue.path} (the file's layout around its last "
                         "task is unusual); nothing was changed. Add it by hand or use --style section")
    return text, tid


# --- priority ------------------------------------------------------------------------------


class PriorityOutcome(NamedTuple):
    """What a priority change did: the priority before and after, and the task's status."""

    task_id: str
    before: str
    after: str
    status: Status
    changed: bool


def _field_piece(tx: Text, fields: list, priority: str) -> tuple[int, int, str] | None:
    """The piece that rewrites the ``Priority:`` field the scanner reads (the last one), or
    None when the task has no such field."""
    found = [f for f in fields if f.key.lower() == "priority"]
    if not found:
        return None
    f = found[-1]
    if not f.value:  # "- Priority:" with nothing after it
        glued = tx.lines[f.line][:f.value_start - tx.offsets[f.line]].endswith(":")
        return f.value_start, f.value_start, (" " if glued else "") + priority
    w = first_word(f.value)
    if w is None:
        return None
    return f.value_start + w[1], f.value_start + w[2], priority


def _section_piece(tx: Text, task: Task, priority: str) -> tuple[int, int, str]:
    idx = next(i for i, h in enumerate(tx.top) if h.start == task.line - 1)
    h = tx.top[idx]
    fields, _ = field_block(tx, h.end + 1, tx.block_end(idx) + 1, 4)
    piece = _field_piece(tx, fields, priority)
    if piece is not None:
        return piece
    nl = tx.newline
    if fields:  # a new field line before the first one, in its style (marker, indent, bold)
        first = fields[0]
        at = tx.offsets[first.line]
        return at, at, first.prefix + "Priority" + first.sep.rstrip() + " " + priority + nl
    # As a status is written where none was: a field line right under the heading.
    gap = h.end + 1 < len(tx.lines) and tx.kinds[h.end + 1] != BLANK
    lead = "" if h.end + 1 < len(tx.lines) else nl
    at = tx.line_end(h.end)
    return at, at, lead + "- Priority: " + priority + nl + (nl if gap else "")


def _list_piece(tx: Text, task: Task, priority: str) -> tuple[int, int, str]:
    item = tx.items[task.line - 1]
    if item.last > item.line:
        fields, _ = field_block(tx, item.line + 1, item.last + 1, item.content_col + 4)
        nested = fields and tx.kinds[fields[0].line] == ITEM and any(
            indent_of(tx.lines[f.line])[0] < item.content_col for f in fields)
        piece = None if nested else _field_piece(tx, fields, priority)
        if piece is not None:  # a field under the item wins over a word on it, as the scanner reads
            return piece
    s, base, cstart = tx.lines[item.line], tx.offsets[item.line], item.content_start
    content = s[cstart:]
    cb = CHECKBOX_RE.match(content)
    m = ID_AT_START.match(content, cb.end() if cb else 0)
    for word, ws, we, wrapped, _end in inline_words(content, m.end()):
        up = word.upper()
        if parse_priority(word):
            return base + cstart + ws, base + cstart + we, priority
        if not (up in STATUS_WORDS and (wrapped or word == up)) and not (wrapped and up in STATUS_ALIASES):
            break
    glued = m.end() < len(content) and not content[m.end()].isspace() and content[m.end()] not in ":\u2014\u2013"
    at = base + cstart + m.end()
    return at, at, f" {priority} " if glued else f" {priority}"


def _table_piece(tx: Text, task: Task, priority: str) -> tuple[int, int, str]:
    row = task.line - 1
    table = next(t for t in tx.blocks.tables if row in t.rows)
    if "priority" not in table.columns:
        raise QueueError(f"{task.id} is a row of a table without a Priority column; add the column to the "
                         "table (a cell in every row) to give its tasks priorities")
    s = tx.lines[row]
    spans = split_cells(s, *table.inner[row]) if table.pipe else row_cells(s, False)
    a, b = spans[table.columns.index("priority")]
    cell = s[a:b]
    lead = len(cell) - len(cell.lstrip())
    v = cell.strip()
    if v:
        w = first_word(v)
        start, end = a + lead + w[1], a + lead + w[2]
    else:
        start = end = a + min(lead, 1)
    new_cell = cell[: start - a] + priority + cell[end - a:]
    grow = len(new_cell) - len(cell)
    if grow > 0:  # keep the column's width where the cell has spare trailing spaces
        trail = len(new_cell) - len(new_cell.rstrip(" "))
        cut = min(grow, max(trail - 1, 0))
        new_cell = new_cell[: len(new_cell) - cut] if cut else new_cell
    return tx.offsets[row] + a, tx.offsets[row] + b, new_cell


def priority_text(queue: Snapshot, task: Task, priority: str) -> str:
    """The queue's text with ``task``'s priority written as ``priority`` and nothing else
    changed; QueueError (nothing written) when that cannot be done cleanly."""
    tx = Text(queue.text, queue.path)
    piece = {"section": _section_piece, "list": _list_piece, "table": _table_piece}[task.style](tx, task, priority)
    text = _splice(queue.text, [piece])
    _check_priority(queue, text, task, priority)
    return text


def _check_priority(queue: Snapshot, text: str, task: Task, priority: str) -> None:
    """The edited text must read as before, but for the one task's priority."""
    before = parse(queue.text, queue.path, default_priority=queue.default_priority)
    after = parse(text, queue.path, default_priority=queue.default_priority)
    now = after.by_id()
    for t in before.tasks:
        u = now.get(t.id)
        same = u is not None and (u.title, u.status, u.assignee, u.depends, u.tags, u.fields, u.style) == (
            t.title, t.status, t.assignee, t.depends, t.tags, t.fields, t.style)
        if same and t.id == task.id:
            same = u.priority == priority and u.priority_written and u.body == t.body
        elif same:
            same = u.priority == t.priority and (t.line <= task.line <= t.end_line or u.body == t.body)
        if not same:
            raise QueueError(f"robe could not change {task.id}'s priority cleanly in {queue.path} (the file's "
                             f"layout around line {task.line} is unusual); nothing was changed. Edit it by hand")
    if len(after.tasks) != len(before.tasks):
        raise QueueError(f"robe could not change {task.id}'s priority cleanly in {queue.path}; nothing was changed")


def priority_change(queue: Snapshot, task_id: str, priority: str, expect: Iterable[Status] = (),
                    expect_priority: str | None = None) -> tuple[str | None, PriorityOutcome]:
    """The text of ``queue`` with ``task_id``'s priority set to ``priority`` (None when it has that
    very priority written already), and what changed. ConflictError when the task is not there,
    its status is not among ``expect`` (if any) or its priority is not ``expect_priority``."""
    priority = priority.upper()
    if priority not in PRIORITIES:
        raise QueueError(f"unknown priority '{priority}'; use P0 (most urgent) to P3")
    want = tuple(Status(s) for s in expect)
    task = queue.get(task_id)
    if task is None:
        why = "it has errors (see robe queue validate)" if task_id in queue.all_ids else "it is not in the queue"
        raise ConflictError(f"{task_id} cannot be changed: {why}")
    if want and task.status not in want:
        raise ConflictError(f"{task_id} is {task.status.value} now, not {' or '.join(s.value for s in want)}; "
                            "nothing was changed")
    if expect_priority and task.priority != expect_priority.upper():
        raise ConflictError(f"{task_id}'s priority is {task.priority} now, not {expect_priority.upper()}; "
                            "nothing was changed")
    unchanged = task.priority == priority and task.priority_written
    out = PriorityOutcome(task_id, task.priority, priority, task.status, not unchanged)
    return (None if unchanged else priority_text(queue, task, priority)), out
