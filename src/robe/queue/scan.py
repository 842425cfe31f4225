"""Pass 2 of the scanner: the tasks of a queue's text, with the offsets edits need.

``parse(text, path)`` reads the whole text in one pass of ``robe.queue.blocks`` (which line is
a heading, a list item, a table row, code...), turns every heading, list item and table row
that begins with a task ID into a task, reads its fields and body, and hands the tasks to
``robe.queue.checks`` for the checks across tasks (duplicate IDs, dependencies, cycles).
It never raises for bad content: every problem is a Problem with its line and a hint.

``parse(text, path, after=earlier)`` gives the same result while reading only from the last
top-level heading above the first line that differs from ``earlier``'s text (``_reparse``):
robe run reads a person's save of a long queue that way.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from .blocks import (
    BLANK,
    ITEM,
    PARA,
    Blocks,
    Heading,
    Item,
    Table,
    indent_of,
    newline_of,
    read_blocks,
    row_cells,
    split_cells,
    split_lines,
)
from .checks import judge
from .model import (
    DEFAULT_PRIORITY,
    ID_PATTERN,
    MAX_ID_LENGTH,
    STATUS_ALIASES,
    STATUS_WORDS,
    Edit,
    Problem,
    Snapshot,
    Status,
    Task,
    parse_priority,
    parse_status,
)
from .nearmiss import BAD_PRIORITY_RE, near_nobody, near_priority, near_status, one_edit_apart

# An ID at the start of a heading or item, followed by its end, a space, ":", "-" or a dash.
ID_AT_START = re.compile(rf"({ID_PATTERN})(?=$|[\s:\-\u2014\u2013])")
FULL_ID_RE = re.compile(rf"\A{ID_PATTERN}\Z")
# What a list task and a near miss (LOOSE_ID, after an optional checkbox) both begin with.
ITEM_WORD_RE = re.compile(r"(?:\[[ xX]\][ \t]+)?[A-Za-z][A-Za-z0-9\u200b-\u200d\u2060\ufeff]*[-_]")
# A near miss: a heading or item that reads almost as a task.
LOOSE_ID = re.compile(r"([A-Za-z][A-Za-z0-9]*[-_][A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*)")
SEPARATOR_RE = re.compile(r"[ \t]*(?::|\u2014|\u2013|-(?=[ \t]|$))?[ \t]*")
# A ``Key: Value`` line: any space after the colon (a no-break space too), a full-width colon,
# the key bold (``**Status:** X``) or the whole line bold (``**Status: X**``).
FIELD_RE = re.compile(
    r"(?P<b1>\*\*|__)?(?P<key>[A-Za-z][A-Za-z0-9 _/-]{0,40}?)(?P<b2>\*\*|__)?[:\uff1a](?P<b3>\*\*|__)?"
    r"(?:[^\S\r\n]+|$|(?<=\uff1a))(?P<value>.*?)[^\S\r\n]*$")
# What a field line robe cannot read begins with: a word, maybe marked up, a separator or space.
ODD_FIELD_RE = re.compile(r"[*_`]*([A-Za-z]+)[*_`]*[^\S\r\n]*([=\-\u2013\u2014:\uff1a]?)[^\S\r\n]*[*_`(\[]*"
                          r"([A-Za-z_-]*)")
#: characters that show as nothing but make an ID another string
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
WORD_RE = re.compile(r"(\*\*|`|\[|\()?([A-Za-z][A-Za-z0-9_-]*)(\*\*|`|\]|\))?")
CHECKBOX_RE = re.compile(r"\[([ xX])\][ \t]+")
DEPENDS_SPLIT_RE = re.compile(r"[,\s]+")
PAIRS = {None: None, "**": "**", "`": "`", "[": "]", "(": ")"}
KNOWN_KEYS = {"status", "priority", "assignee", "depends", "tags"}
NOBODY = ("-", "none", "unassigned", "nobody")


def priority_heading(text: str) -> str | None:
    """``P0``..``P3`` when a heading's text begins with one as a word (``## P1 — Soon``), else None."""
    if text[:1] in ("P", "p") and text[1:2] in ("0", "1", "2", "3") and (
            len(text) == 2 or text[2].isspace() or text[2] in ":\u2014\u2013-"):
        return text[:2].upper()
    return None


class Field(NamedTuple):
    """A ``Key: Value`` line: key and value as written, the file offset of the value, the line
    (0-based), the text before the key (indent, marker, bold opener) and between the key and
    the value (so a new field can copy the style)."""

    key: str
    value: str
    value_start: int
    line: int
    prefix: str = ""
    sep: str = ": "


@dataclass(slots=True)
class Draft:
    """A task being built; becomes a Task once its fields are read."""

    id: str
    title: str
    line: int
    end_line: int
    style: str
    section: str | None
    heading_priority: str | None
    priority: str | None = None
    status: Status | None = None
    status_span: tuple[int, int] | None = None
    insert_at: int | None = None
    insert_template: str | None = None
    checkbox_span: tuple[int, int] | None = None
    cell_span: tuple[int, int] | None = None
    assignee: str | None = None
    depends: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    fields: list = field(default_factory=list)
    body: str = ""
    problems: list = field(default_factory=list)

    def task(self, default_priority: str) -> Task:
        return Task(self.id, self.priority or self.heading_priority or default_priority,
                    self.status or Status.PENDING, self.title, self.body, self.assignee, self.depends, self.tags,
                    tuple(self.fields), self.line, self.end_line, self.style, self.section,
                    priority_written=self.priority is not None, status_written=self.status_span is not None,
                    edit=Edit(self.status_span, self.insert_at, self.insert_template, self.checkbox_span,
                              self.cell_span))


class Text:
    """The text being parsed: its lines, where each starts, pass 1's blocks, and the outline
    of its top-level headings (which section and heading priority each line is under)."""

    def __init__(self, text: str, path: str, first: int = 0, above: tuple[Heading, ...] = (), at: int = 0):
        """``first``, ``above``, ``at``: read only from line ``first`` (a top-level ATX heading,
        at offset ``at``), under the headings ``above`` that are open there (``_reparse``); the
        lines above it are left empty."""
        self.path, self.text = path, text
        self.first, self.above = first, len(above)
        self.lines, self.offsets = split_lines(text, first, at)
        self.newline = newline_of(text)
        self.blocks: Blocks = read_blocks(self.lines, first)
        self.kinds = self.blocks.kinds
        self.items = {it.line: it for it in self.blocks.items}
        self.top = [*above, *(h for h in self.blocks.headings if h.top)]
        self.starts = [h.start for h in self.top]
        self.parents, self.nexts = _links([h.level for h in self.top])
        self._priorities: dict[int, str | None] = {}

    def line_end(self, j: int) -> int:
        """Offset just past line j's ending (where a new line would start)."""
        return self.offsets[j + 1] if j + 1 < len(self.offsets) else self.offsets[j] + len(self.lines[j])

    def priority(self, idx: int) -> str | None:
        """The priority in force under top heading ``idx`` (its own, or its nearest parent's)."""
        if idx not in self._priorities:
            parent = self.parents[idx]
            self._priorities[idx] = priority_heading(self.top[idx].text) or (
                self.priority(parent) if parent >= 0 else None)
        return self._priorities[idx]

    def block_end(self, idx: int) -> int:
        """The last non-blank line of top heading ``idx``'s block (which runs to the next
        heading of the same or a higher level)."""
        j = self.nexts[idx]
        e = self.top[j].start - 1 if j < len(self.top) else len(self.lines) - 1
        first = self.top[idx].end
        while e > first and self.kinds[e] == BLANK:
            e -= 1
        return e

    def context(self, line0: int) -> tuple[str | None, str | None]:
        """(section, heading priority) of a task that is not a section, at 0-based ``line0``."""
        k = bisect.bisect_right(self.starts, line0) - 1
        return (None, None) if k < 0 else (self.top[k].text, self.priority(k))

    def section_context(self, idx: int) -> tuple[str | None, str | None]:
        """(section, heading priority) of the section task of top heading ``idx``."""
        parent = self.parents[idx]
        return (self.top[parent].text, self.priority(parent)) if parent >= 0 else (None, None)


def _links(levels: list[int]) -> tuple[list[int], list[int]]:
    """How headings of these levels nest: each one's parent (the nearest heading before it of a
    lower level; -1: none) and next (the first heading after it of the same or a lower level,
    where its block ends; len(levels): none)."""
    parents = []
    nexts = [len(levels)] * len(levels)
    open_: list[int] = []
    for idx, level in enumerate(levels):
        while open_ and levels[open_[-1]] >= level:
            nexts[open_.pop()] = idx
        parents.append(open_[-1] if open_ else -1)
        open_.append(idx)
    return parents, nexts


# --- fields ------------------------------------------------------------------------------------


def field_parts(s: str, cstart: int):
    """(key, value, key start, key end, value start) of a ``Key: Value`` line beginning at
    ``s[cstart]``, or None; the positions are indexes into ``s``."""
    m = FIELD_RE.match(s, cstart)
    if not m:
        return None
    b1, b2, b3, key = m.group("b1", "b2", "b3", "key")
    value = m.group("value")
    if b1 and not (b2 or b3):
        if not value.endswith(b1):
            return None
        value = value[:-len(b1)].rstrip()  # the whole line bold: **Status: BLOCKED**
    elif (b2 or b3) and not b1:
        return None
    key = key.strip()
    if not key or key[0] == "[" or ID_AT_START.match(key):
        return None
    ks, ke = m.span("key")
    return key, value, ks, ke, m.start("value")


def field_block(tx: Text, start: int, stop: int, indent_limit: int) -> tuple[list[Field], int]:
    """Leading ``Key: Value`` lines from ``start`` (0-based) up to ``stop`` (exclusive).

    Either list items (``- Key: Value``) or plain lines of one paragraph. A block counts only
    if one of its keys is a known one (status, priority, assignee, depends, tags), so a body
    that opens with ``Goal: ...`` stays body. Returns (fields, the line after the block).
    """
    lines, kinds = tx.lines, tx.kinds
    j = start
    while j < stop and kinds[j] == BLANK:
        j += 1
    if j >= stop:
        return [], start
    found = []
    first_kind = kinds[j]
    k = j
    while k < stop:
        s = lines[k]
        if first_kind == ITEM:
            item = tx.items.get(k)
            if item is None or item.indent >= indent_limit:
                break
            cstart = item.content_start
        else:
            col, cstart = indent_of(s)
            if cstart == len(s) or kinds[k] != PARA or col >= indent_limit + 4:
                break
        got = field_parts(s, cstart)
        if not got:
            break
        key, value, ks, ke, vs = got
        found.append(Field(key, value, tx.offsets[k] + vs, k, s[:ks], s[ke:vs]))
        k += 1
    if not any(f.key.lower() in KNOWN_KEYS for f in found):
        return [], start
    if first_kind == PARA and k < stop and kinds[k] == PARA:
        return [], start  # the paragraph goes on with text that is not a field: it is body
    return found, k


def near_key(word: str) -> str | None:
    """The known field a key names, written exactly or one edit away (``Stauts``); None if none."""
    w = word.lower()
    if w in KNOWN_KEYS:
        return w
    return next((k for k in KNOWN_KEYS if len(k) >= 5 and one_edit_apart(w, k)), None)


def odd_field(tx: Text, fields: list[Field], start: int, after: int, stop: int) -> tuple[int, str] | None:
    """The line right under a task (or right after its fields) that reads like one of the known
    fields robe cannot read (``Status BLOCKED``, ``Status = BLOCKED``): its line and the key."""
    k = after if fields else start
    while not fields and k < stop and tx.kinds[k] == BLANK:
        k += 1
    if k >= stop or tx.kinds[k] not in (ITEM, PARA):
        return None
    item = tx.items.get(k)
    cstart = item.content_start if tx.kinds[k] == ITEM and item is not None else indent_of(tx.lines[k])[1]
    m = ODD_FIELD_RE.match(tx.lines[k], cstart)
    key = near_key(m.group(1)) if m else None
    if key is None:
        return None
    word, sep, value = m.groups()
    if sep or (key == "status" and (value.upper() in STATUS_WORDS or value.upper() in STATUS_ALIASES)) \
            or (key == "priority" and parse_priority(value)) or word.lower() != key:
        return k, key
    return None


def first_word(value: str):
    """(word, start, end) of a value's first word, allowing **, `, [], () around it."""
    m = WORD_RE.match(value)
    if not m or PAIRS.get(m.group(1)) != m.group(3):
        return None
    return m.group(2), m.start(2), m.end(2)


def status_problem(draft: Draft, path: str, line: int, word: str) -> None:
    alias = STATUS_ALIASES.get(word.upper())
    hint = f"did you mean {alias}? " if alias else ""
    hint += "statuses are " + ", ".join(STATUS_WORDS)
    draft.problems.append(Problem(path, line, f"{draft.id} has an unknown status '{word}'", hint,
                                  draft.id, code="status"))


def apply_fields(draft: Draft, fields: list[Field], path: str) -> None:
    """Read the known fields into the draft; keep the others as written."""
    for f in fields:
        key, v, line = f.key.lower(), f.value, f.line + 1
        if key == "status":
            _status_field(draft, f, path)
        elif key == "priority":
            w = first_word(v)
            p = parse_priority(w[0]) if w else None
            if p is None and v:
                draft.problems.append(Problem(path, line, f"{draft.id} has an unknown priority '{v}'",
                                              "priorities are P0 (most urgent), P1, P2 and P3", draft.id,
                                              code="priority"))
            elif p:
                draft.priority = p
        elif key == "assignee":
            a = v.strip("`*@ ").lower()
            draft.assignee = a if a and a not in NOBODY else None
            if a in NOBODY and not (draft.style == "table" and a == "-"):  # (a table's "-" cell is plain "none")
                near_nobody(draft.id, draft.problems, path, line, v.strip())
        elif key == "depends":
            draft.depends = _depends(draft, v, path, line)
        elif key == "tags":
            tags = [t.strip("`*# ").lower() for t in (v.split(",") if "," in v else v.split())]
            draft.tags = tuple(filter(None, tags))
        else:
            draft.fields.append((f.key, v))
            near = near_key(key)
            if near == "status":  # a misspelt Status may say BLOCKED: the task must wait
                draft.problems.append(Problem(path, line, f"{draft.id} has a field '{f.key}', which looks like "
                                              "Status misspelt", f"write it as '{f.prefix.strip() or '-'} Status: "
                                              f"{v}'; robe leaves {draft.id} out until it can read its status",
                                              draft.id, code="field"))
            elif near:
                draft.problems.append(Problem(path, line, f"{draft.id} has a field '{f.key}', which looks like "
                                              f"{near.capitalize()} misspelt; robe keeps it as a field of its own",
                                              f"write it as '{near.capitalize()}' if that is what it is", draft.id,
                                              severity="warning", code="field"))


def odd_field_problem(tx: Text, draft: Draft, found: tuple[int, str] | None) -> None:
    """A line that reads like a field robe cannot read: an error, so the task is not dispatched."""
    if found is None:
        return
    k, key = found
    draft.problems.append(Problem(tx.path, k + 1, f"{draft.id}: this line looks like a {key.capitalize()} field, but "
                                  f"robe cannot read it: '{tx.lines[k].strip()[:80]}'",
                                  f"write it as '- {key.capitalize()}: VALUE' (the key, a colon, the value); until "
                                  f"then robe leaves {draft.id} out", draft.id, code="field"))


def _status_field(draft: Draft, f: Field, path: str) -> None:
    if draft.status_span is not None:
        return  # the first Status wins (a list task's inline word, or an earlier field)
    v = f.value
    if not v:
        draft.insert_at, draft.insert_template = f.value_start, "{status}"
        return
    w = first_word(v)
    st = parse_status(w[0]) if w else None
    if st is None:
        status_problem(draft, path, f.line + 1, v.split()[0] if v.split() else v)
        return
    draft.status = st
    draft.status_span = (f.value_start + w[1], f.value_start + w[2])


def _depends(draft: Draft, value: str, path: str, line: int) -> tuple[str, ...]:
    deps = []
    for d in DEPENDS_SPLIT_RE.split(value):
        d = d.strip("`*[]() ")
        if not d or d.lower() in ("-", "none"):
            continue
        if not FULL_ID_RE.match(d):
            draft.problems.append(Problem(path, line, f"{draft.id} depends on '{d}', which is not a task ID",
                                          "write task IDs such as TASK-001, separated by commas", draft.id,
                                          code="depends"))
            continue
        deps.append(d)
    return tuple(dict.fromkeys(deps))


# --- the three styles --------------------------------------------------------------------------


def section_task(tx: Text, idx: int) -> Draft | None:
    """The task a top-level heading starts, or None when it does not begin with an ID."""
    h: Heading = tx.top[idx]
    m = ID_AT_START.match(h.text)
    if not m:
        return None
    end = tx.block_end(idx)
    title = SEPARATOR_RE.sub("", h.text[m.end():], count=1).strip()
    draft = Draft(m.group(1), title, h.start + 1, end + 1, "section", *tx.section_context(idx))
    fields, after = field_block(tx, h.end + 1, end + 1, 4)
    apply_fields(draft, fields, tx.path)
    odd_field_problem(tx, draft, odd_field(tx, fields, h.end + 1, after, end + 1))
    if draft.status_span is None and draft.insert_at is None:
        nl, lines = tx.newline, tx.lines
        if fields:
            # A new field line after the last one, in its style (marker, indent, bold).
            last = fields[-1]
            draft.insert_at = tx.line_end(last.line)
            lead = "" if last.line + 1 < len(lines) else nl
            draft.insert_template = lead + last.prefix + "Status" + last.sep.rstrip() + " {status}" + nl
        else:
            gap = h.end + 1 < len(lines) and tx.kinds[h.end + 1] != BLANK
            lead = "" if h.end + 1 < len(lines) else nl
            draft.insert_at = tx.line_end(h.end)
            draft.insert_template = lead + "- Status: {status}" + nl + (nl if gap else "")
    draft.body = "\n".join(tx.lines[after:end + 1]).strip("\n")
    return draft


def inline_words(content: str, pos: int):
    """Priority/status words right after a list task's ID: yields (word, start, end, wrapped, end of the word's wrapping)."""
    while True:
        p = SEPARATOR_RE.match(content, pos).end()
        w = WORD_RE.match(content, p)
        if not w or PAIRS.get(w.group(1)) != w.group(3):
            return
        end = w.end()
        if end < len(content) and not content[end].isspace() and content[end] not in ":\u2014\u2013":
            return
        yield w.group(2), w.start(2), w.end(2), bool(w.group(1)), end
        pos = end


def list_task(tx: Text, item: Item) -> Draft | None:
    """The task a list item starts, or None when its first words are no ID."""
    s, base, cstart = tx.lines[item.line], tx.offsets[item.line], item.content_start
    content = s[cstart:]
    cb = CHECKBOX_RE.match(content)
    m = ID_AT_START.match(content, cb.end() if cb else 0)
    if not m:
        return None
    draft = Draft(m.group(1), "", item.line + 1, item.last + 1, "list", *tx.context(item.line))
    title_at = priority_end = m.end()
    for word, ws, we, wrapped, end in inline_words(content, m.end()):
        up = word.upper()
        if draft.priority is None and parse_priority(word):
            draft.priority = up
            priority_end = title_at = end
        elif draft.status_span is None and up in STATUS_WORDS and (wrapped or word == up):
            # A bare status word must be upper case, so "Complete the migration" stays a title.
            draft.status = Status(up)
            draft.status_span = (base + cstart + ws, base + cstart + we)
            title_at = end
        elif wrapped and up in STATUS_ALIASES:
            status_problem(draft, tx.path, item.line + 1, word)
            title_at = end
        elif draft.priority is None and BAD_PRIORITY_RE.fullmatch(word):
            near_priority(draft.id, draft.problems, tx.path, item.line + 1, word, tx.context(item.line)[1])
            title_at = end  # a priority it is not: not the title either, so a status after it still counts
        else:
            if draft.status_span is None and (wrapped or word == up):
                near_status(draft.id, draft.problems, tx.path, item.line + 1, word)
            break
    draft.title = SEPARATOR_RE.sub("", content[title_at:], count=1).strip()
    after = _list_fields(tx, item, draft)
    if draft.status_span is None and draft.insert_at is None:
        draft.insert_at = base + cstart + priority_end
        glued = priority_end < len(content) and not content[priority_end].isspace()
        draft.insert_template = " {status} " if glued else " {status}"
    if cb:
        _checkbox(tx, draft, item, (base + cstart + cb.start(1), base + cstart + cb.end(1)), cb.group(1))
    if after <= item.last:
        body = []
        for j in range(after, item.last + 1):
            c, p = indent_of(tx.lines[j])
            body.append(tx.lines[j][p:] if c <= item.content_col else " " * (c - item.content_col) + tx.lines[j][p:])
        draft.body = "\n".join(body).strip("\n")
    return draft


def _list_fields(tx: Text, item: Item, draft: Draft) -> int:
    """Read the ``Key: Value`` lines under a list task; the line where its body starts."""
    if item.last <= item.line:
        return item.line + 1
    fields, after = field_block(tx, item.line + 1, item.last + 1, item.content_col + 4)
    if fields and tx.kinds[fields[0].line] == ITEM and any(
            indent_of(tx.lines[f.line])[0] < item.content_col for f in fields):
        return item.line + 1
    apply_fields(draft, fields, tx.path)
    odd_field_problem(tx, draft, odd_field(tx, fields, item.line + 1, after, item.last + 1))
    return after


def _checkbox(tx: Text, draft: Draft, item: Item, span: tuple[int, int], mark: str) -> None:
    draft.checkbox_span = span
    ticked = mark in "xX"
    if draft.status is None and draft.status_span is None and ticked:
        draft.status = Status.COMPLETE
    elif draft.status is not None and ticked != (draft.status is Status.COMPLETE):
        draft.problems.append(Problem(tx.path, item.line + 1,
                                      f"{draft.id}'s checkbox says [{mark}] but its status is {draft.status}",
                                      "the status word wins; robe keeps the box in step when it changes the status",
                                      draft.id, severity="warning", code="checkbox"))


def table_tasks(tx: Text, table: Table, problems: list[Problem]) -> list[Draft]:
    """The tasks of a table whose header names ID and Status."""
    cols = table.columns
    if "id" not in cols or "status" not in cols:
        return []
    if table.bad is not None:
        problems.append(Problem(tx.path, table.head + 1,
                                f"this task table is not read: the row at line {table.bad + 1} has "
                                f"{len(row_cells(tx.lines[table.bad], table.pipe))} cells but the header has "
                                f"{len(cols)}, so markdown shows the whole table as plain text",
                                f"give every row {len(cols)} cells (write a | inside a cell as \\|)", code="table"))
        return []
    ci, cs = cols.index("id"), cols.index("status")
    ct = cols.index("task") if "task" in cols else cols.index("title") if "title" in cols else None
    cp = cols.index("priority") if "priority" in cols else None
    extra = [(k, table.raw_columns[k].strip("*_` ")) for k in range(len(cols)) if k not in (ci, cs, ct)]
    section, heading_priority = tx.context(table.head)  # no heading can stand inside a table
    drafts = []
    for r in table.rows:
        s = tx.lines[r]
        spans = split_cells(s, *table.inner[r]) if table.pipe else row_cells(s, False)
        cells = [s[a:b] for a, b in spans]
        raw_id = cells[ci].strip().strip("`*") if ci < len(cells) else ""
        if not FULL_ID_RE.match(raw_id):
            if invisible_id(tx, raw_id, r, problems):
                continue
            if raw_id or any(c.strip() for c in cells):
                problems.append(Problem(tx.path, r + 1, f"table row has an invalid task ID '{raw_id}'",
                                        "IDs are upper-case letters, a dash and a number, such as TASK-001",
                                        code="id"))
            continue
        draft = Draft(raw_id, "", r + 1, r + 1, "table", section, heading_priority)
        if cs < len(cells):
            _status_cell(tx, draft, r, spans[cs])
        if ct is not None and ct < len(cells):
            draft.title = cells[ct].strip().replace("\\|", "|")
        fields = []
        for k, name in extra:
            v = cells[k].strip() if k < len(cells) else ""
            if k == cp:
                if v:
                    draft.priority = parse_priority(v.strip("*` "))
                    if draft.priority is None:
                        draft.problems.append(Problem(tx.path, r + 1, f"{raw_id} has an unknown priority '{v}'",
                                                      "priorities are P0 (most urgent), P1, P2 and P3", raw_id,
                                                      code="priority"))
                continue
            fields.append(Field(name, v.replace("\\|", "|"), tx.offsets[r] + spans[k][0], r))
        apply_fields(draft, fields, tx.path)
        drafts.append(draft)
    return drafts


def _status_cell(tx: Text, draft: Draft, r: int, span: tuple[int, int]) -> None:
    a, b = span
    cell = tx.lines[r][a:b]
    v = cell.strip()
    at = tx.offsets[r] + a + len(cell) - len(cell.lstrip())
    draft.cell_span = (tx.offsets[r] + a, tx.offsets[r] + b)
    if not v:
        draft.insert_at = tx.offsets[r] + a + min(len(cell) - len(cell.lstrip()), 1)
        draft.insert_template = "{status}"
        return
    w = first_word(v)
    st = parse_status(w[0]) if w and w[2] == len(v.rstrip("*`])")) else None
    if st is None:
        status_problem(draft, tx.path, r + 1, v)
    else:
        draft.status = st
        draft.status_span = (at + w[1], at + w[2])


# --- the whole text ---------------------------------------------------------------------------


def looks_like_task_words(rest: str) -> bool:
    words = rest.replace(":", " ").split()[:2]
    return any(parse_priority(w.strip("*`[]()")) or w.strip("*`[]()").upper() in STATUS_WORDS for w in words)


def invisible_id(tx: Text, text: str, line0: int, problems: list[Problem]) -> bool:
    """An ID at the start of ``text`` that holds a character that shows as nothing: an error
    (the task would silently not be one)."""
    word = text.split(None, 1)[0] if text.strip() else ""
    if not any(c in word for c in INVISIBLE):
        return False
    seen = word.translate({ord(c): None for c in INVISIBLE})
    if not ID_AT_START.match(seen):
        return False
    codes = ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in word if c in INVISIBLE))
    problems.append(Problem(tx.path, line0 + 1, f"the ID {seen.rstrip(':')} holds an invisible character ({codes}), "
                            "so it is not an ID and its task is left out",
                            f"delete the ID and type it again as {seen.rstrip(':')}", code="id"))
    return True


def bad_id(path: str, line: int, word: str) -> Problem:
    up = word.upper().replace("_", "-")
    hint = "IDs are upper-case letters, a dash and a number, such as TASK-001"
    if re.fullmatch(ID_PATTERN, up):
        hint = f"write it as {up}"
    return Problem(path, line, f"'{word}' is not a valid task ID", hint, code="id")


def drafts(tx: Text, problems: list[Problem]):
    """Every task of the text (sections, list items, table rows), as drafts, section tasks
    first, then list items, then table rows; the near misses go into ``problems``."""
    for idx, h in enumerate(tx.top):
        if not h.text or not h.text[0].isalpha() or h.start < tx.first:
            continue
        d = section_task(tx, idx)
        if d is not None:
            yield d
            continue
        if invisible_id(tx, h.text, h.start, problems):
            continue
        lm = LOOSE_ID.match(h.text)
        if lm and h.text[lm.end():lm.end() + 1] == ":" and not priority_heading(h.text):
            problems.append(bad_id(tx.path, h.start + 1, lm.group(1)))
    for item in tx.blocks.items:
        line = tx.lines[item.line]
        # Most items are neither tasks nor near misses (the fields of section tasks).
        if not ITEM_WORD_RE.match(line, item.content_start) or tx.kinds[item.line] != ITEM:
            continue
        d = list_task(tx, item)
        if d is not None:
            yield d
            continue
        content = line[item.content_start:]
        cb = CHECKBOX_RE.match(content)
        rest = content[cb.end():] if cb else content
        if invisible_id(tx, rest, item.line, problems):
            continue
        lm = LOOSE_ID.match(rest)
        if lm and (cb or looks_like_task_words(rest[lm.end():])):
            problems.append(bad_id(tx.path, item.line + 1, lm.group(1)))
    for table in tx.blocks.tables:
        yield from table_tasks(tx, table, problems)


class Basis(NamedTuple):
    """What a parse of this text after an edit can start from (``parse(after=...)``): the
    top-level headings, the (line, offset) of each ATX one that no task above it runs past (a
    place to start reading again), the lines of the tasks left out for their own problems, and
    the problems found before the checks across tasks (which ``judge`` makes again on all)."""

    outline: tuple[Heading, ...]
    restarts: tuple[tuple[int, int], ...]
    flawed: frozenset[int]
    own: tuple[Problem, ...]


def parse(text: str, path: str = "WORK-QUEUE.md", *, default_priority: str = DEFAULT_PRIORITY,
          known_assignees=None, after: Snapshot | None = None) -> Snapshot:
    """Parse queue text (BOM included, if any). Never raises for bad content.

    ``known_assignees``: the fleet's wizard names; a task assigned to anyone else is an error.
    ``after``: an earlier parse of this file. The text is then read only from the last
    top-level heading above the first line that differs from ``after``'s text (see ``_reparse``),
    and the result is the same.
    """
    if after is not None and after.default_priority == default_priority and text != after.text:
        snapshot = _reparse(after, text, path, known_assignees)
        if snapshot is not None:
            return snapshot
    return _parse(Text(text, path), [], set(), [], default_priority, known_assignees)


def _reparse(old: Snapshot, text: str, path: str, known_assignees) -> Snapshot | None:
    """``parse(text)``, from ``old``: its tasks and problems above the restart heading are kept,
    the text is read from that heading on, and the checks across tasks are made again on all.
    None when there is no such heading (the change is above every top-level ATX heading, or a
    section task above the change runs on past each one), or when the file's newline changed.

    robe run reads a person's save this way: a task added near the end of a 10,000-task queue
    costs a parse of the last section, not of the file."""
    basis = old.basis
    if not isinstance(basis, Basis) or newline_of(text) != old.newline:  # (a task's insert_template
        return None  # ends in the file's newline)
    changed = old.text.count("\n", 0, _common_prefix(old.text, text))
    k = bisect.bisect_left(basis.restarts, (changed,)) - 1  # the last one above the changed line
    if k < 0:
        return None
    first, at = basis.restarts[k]
    # The tasks above ``first`` (1-based lines up to it), in line order: they end above it too.
    by_line = attrgetter("line")
    kept = list(old.tasks[:bisect.bisect_right(old.tasks, first, key=by_line)])
    rejected = old.rejected[:bisect.bisect_right(old.rejected, first, key=by_line)]
    if rejected:
        kept = sorted((*kept, *rejected), key=by_line)
    bad = {id(t) for t in rejected if t.line in basis.flawed}
    own = [p if p.path == path else p._replace(path=path) for p in basis.own if p.line <= first]
    outline = basis.outline[:bisect.bisect_left(basis.outline, first, key=attrgetter("start"))]
    above = _open_at(outline, basis.outline[len(outline)].level)  # (that one is the heading at first)
    return _parse(Text(text, path, first, above, at), kept, bad, own, old.default_priority,
                  known_assignees, outline, basis.restarts[:k], {x for x in basis.flawed if x <= first})


def _parse(tx: Text, kept: list[Task], bad: set[int], problems: list[Problem], default_priority: str,
           known_assignees, outline=(), restarts=(), flawed=()) -> Snapshot:
    """The parse of ``tx`` (from its first line on) after ``kept`` (the tasks above it, in line
    order), ``bad``, ``problems``, ``outline``, ``restarts`` and ``flawed`` found above it."""
    path = tx.path
    tasks = []
    flawed = set(flawed)
    for d in drafts(tx, problems):  # each draft becomes its task at once
        if len(d.id) > MAX_ID_LENGTH:
            d.problems.append(Problem(path, d.line, f"the task ID '{d.id[:20]}...' is {len(d.id)} characters long",
                                      f"IDs become file names: keep them to {MAX_ID_LENGTH} characters, "
                                      "such as TASK-001", d.id, code="id"))
        task = d.task(default_priority)
        tasks.append(task)
        if d.problems:
            if any(p.severity == "error" for p in d.problems):
                bad.add(id(task))
                flawed.add(task.line)
            problems.extend(d.problems)
    tasks.sort(key=attrgetter("line"))
    top = tx.top[tx.above:]
    basis = Basis((*outline, *top), (*restarts, *_restarts(tx, top, tasks)), frozenset(flawed),
                  tuple(sorted(problems, key=lambda p: (p.line, p.code))))
    kept.extend(tasks)
    return judge(kept, bad, problems, text=tx.text, path=path, newline=tx.newline, default_priority=default_priority,
                 known_assignees=known_assignees, basis=basis)


def _restarts(tx: Text, top: list[Heading], tasks: list[Task]) -> list[tuple[int, int]]:
    """(line, offset) of each top-level ATX heading of ``top`` that none of ``tasks`` (those
    read from ``tx.first`` on, in line order) runs past. (A setext heading's text becomes a
    heading only at its underline: no place to start.)"""
    out = []
    reach, k = -1, 0  # the furthest 1-based end_line of the tasks above the heading
    for h in top:
        s = h.start  # 0-based; a task's lines are 1-based
        while k < len(tasks) and tasks[k].line <= s:
            reach = max(reach, tasks[k].end_line)
            k += 1
        if h.end == s and reach <= s:
            out.append((s, tx.offsets[s]))
    return out


def _open_at(outline, level: int) -> tuple[Heading, ...]:
    """The headings of ``outline`` whose blocks hold a heading of ``level`` just below it (its
    parents): walking up, each one of a lower level than the last kept."""
    open_: list[Heading] = []
    for h in reversed(outline):
        if h.level < level:
            open_.append(h)
            level = h.level
            if level == 1:
                break
    return tuple(reversed(open_))


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (halving: the comparisons
    run in C)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while hi - lo > 1:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo
