"""Parse WORK-QUEUE.md text into tasks, keeping the source offsets edits need.

A markdown parser's tree (mistune's) says what is a heading, a list item, a table row or code,
but not where it stands in the text, and building it costs ~170 ms per 1,000 tasks. So this
module is a line scanner that follows CommonMark's block rules closely enough for a queue
(fences, HTML blocks, block quotes, indented code, lists and their lazy lines, GFM tables,
ATX and setext headings) and records offsets as it goes. ``robe.queue.crosscheck`` compares
its verdicts with mistune's, in the property tests and in ``robe queue validate``.

Pass 1 (``_blocks``) classifies every line. Pass 2 turns headings, list items and table rows
that begin with a task ID into tasks; ``_validate`` then checks IDs and dependencies. In a
text without long-range blocks, pass 1 can read a segment at a time (``_Segments``): a partial
parse reads the segments of its tasks, and ``reread`` makes the parse of a changed text from
the parse of the old one by reading again only the segments the change touches.
"""

from __future__ import annotations

import bisect
from itertools import accumulate, compress
import operator
import re

from ..records import record
from . import patterns
from .model import (
    DEFAULT_PRIORITY,
    ID_PATTERN,
    STATUS_ALIASES,
    STATUS_WORDS,
    Edit,
    Problem,
    Queue,
    Status,
    Task,
    parse_priority,
    parse_status,
    without_gc,
)

# Line kinds of pass 1.
BLANK, PARA, HEADING, SETEXT_RULE, ITEM, CODE, HTML, QUOTE, BREAK = range(9)
TABLE_HEAD, TABLE_DELIM, TABLE_ROW = 9, 10, 11


def _OnFirstUse(name: str, pattern: str) -> patterns.OnFirstUse:
    """A pattern of this module compiled when first used (see robe.queue.patterns): compiling
    all of them took ~1.5 ms of every command that imports the module, and a partial parse or
    a re-read of a few segments uses only some of them."""
    return patterns.OnFirstUse(globals(), name, pattern)


# Patterns of rare lines stay strings, compiled by re's own cache on first use: compiling a
# pattern costs as much as scanning ~300 lines, and most queues have no fences or rules.
_FENCE = r"(`{3,}|~{3,})(.*)"
_ATX_CLOSE = r"(?:^|[ \t]+)#+[ \t]*$"
_ATX_RE = _OnFirstUse("_ATX_RE", r"(#{1,6})(?:[ \t]+|$)")
_ITEM_RE = _OnFirstUse("_ITEM_RE", r"([-+*]|[0-9]{1,9}[.)])([ \t]+|$)")
_HTML1 = r"<(script|pre|style|textarea)(?:[ \t>]|$)"
_HTML6 = (
    r"</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|"
    r"details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|"
    r"head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|"
    r"option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)"
    r"(?:[ \t>]|/>|$)"
)
_HTML7 = (
    r"(?:<[A-Za-z][A-Za-z0-9-]*(?:[ \t]+[A-Za-z_:][\w.:-]*(?:[ \t]*=[ \t]*(?:[^ \t\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*[ \t]*/?>"
    r"|</[A-Za-z][A-Za-z0-9-]*[ \t]*>)[ \t]*$"
)
_html_res: list = []


def _fence(t: str):
    return re.match(_FENCE, t)


def _is_break(t: str) -> bool:
    """A thematic break: three or more of one of - * _, with only spaces or tabs between."""
    c = t[0]
    if c not in "-*_":
        return False
    core = t.replace(" ", "").replace("\t", "")
    return len(core) >= 3 and not core.strip(c)


def _html():
    """The HTML block start patterns, compiled on first use: most queues have no HTML."""
    if not _html_res:
        _html_res.extend([re.compile(_HTML1, re.I), re.compile(_HTML6, re.I), re.compile(_HTML7)])
    return _html_res

# First characters that may start a block other than paragraph text ("|" too: a table).
_BLOCK_CHARS = frozenset("#>`~<*-_+=|0123456789")
# The dashes are alternatives, not members of a character class: a class holding a character
# beyond Latin-1 is compiled into a bitmap of every character up to U+FFFF (~0.3 ms a pattern,
# paid by every command that imports this module).
_ID_AT_START = _OnFirstUse("_ID_AT_START", rf"({ID_PATTERN})(?=$|[\s:-]|\u2014|\u2013)")
_FULL_ID_RE = _OnFirstUse("_FULL_ID_RE", rf"\A{ID_PATTERN}\Z")
# What a list task and a near miss (_LOOSE_ID, after an optional checkbox) both begin with.
_ITEM_WORD_RE = _OnFirstUse("_ITEM_WORD_RE", r"(?:\[[ xX]\][ \t]+)?[A-Za-z][A-Za-z0-9]*[-_]")
# Near misses (a heading or item that reads almost as a task): rare, so compiled on first use.
_LOOSE_ID = _OnFirstUse("_LOOSE_ID", r"([A-Za-z][A-Za-z0-9]*[-_][A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*)")
_SEPARATOR_RE = _OnFirstUse("_SEPARATOR_RE", r"[ \t]*(?::|\u2014|\u2013|-(?=[ \t]|$))?[ \t]*")
# A ``Key: Value`` line as a pattern: the reference of _field_parts' plain reading, and its
# fallback (bold keys, odd characters), compiled on first use.
_FIELD = (
    r"(?P<b1>\*\*|__)?(?P<key>[A-Za-z][A-Za-z0-9 _/-]{0,40}?)(?P<b2>\*\*|__)?:(?P<b3>\*\*|__)?"
    r"(?:[ \t]+|$)(?P<value>.*?)[ \t]*$"
)
_WORD_RE = _OnFirstUse("_WORD_RE", r"(\*\*|`|\[|\()?([A-Za-z][A-Za-z0-9_-]*)(\*\*|`|\]|\))?")
_CHECKBOX_RE = _OnFirstUse("_CHECKBOX_RE", r"\[([ xX])\][ \t]+")
_DEPENDS_SPLIT_RE = _OnFirstUse("_DEPENDS_SPLIT_RE", r"[,\s]+")
_PAIRS = {None: None, "**": "**", "`": "`", "[": "]", "(": ")"}
_KNOWN_KEYS = {"status", "priority", "assignee", "depends", "tags"}
_STATUS_BY_WORD = {s.value: s for s in Status}
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _/-"  # _FIELD's key


def _priority_heading(text: str) -> str | None:
    """``P0``..``P3`` when a heading's text begins with one as a word (``## P1 — Soon``), else None."""
    if text[:1] in ("P", "p") and text[1:2] in ("0", "1", "2", "3") and (
            len(text) == 2 or text[2].isspace() or text[2] in ":\u2014\u2013-"):
        return text[:2].upper()
    return None


class _Item:
    """A list item: its line (0-based), marker column, content column, the index in the line
    where its content starts, its last line, and how far a line that ends it may be indented."""

    __slots__ = ("line", "indent", "content_col", "content_start", "last", "lead")

    def __init__(self, line, indent, content_col, content_start, last, lead):
        self.line, self.indent, self.content_col, self.content_start, self.last = (
            line, indent, content_col, content_start, last)
        self.lead = lead  # how far a line that ends the item may be indented (mistune's rule)


class _Heading:
    """A heading: first line (0-based; for setext, the paragraph's first line), last line
    (the underline for setext), level, text, and whether it is top-level (not in a list
    item or quote)."""

    __slots__ = ("start", "end", "level", "text", "top")

    def __init__(self, start, end, level, text, top):
        self.start, self.end, self.level, self.text, self.top = start, end, level, text, top


class _Table:
    """A table: header line, normalised and raw column names, row lines, whether its rows are
    ``| ... |``, and the line of a row with the wrong number of cells (then it is no table)."""

    __slots__ = ("head", "columns", "raw_columns", "rows", "pipe", "bad", "inner")

    def __init__(self, head, columns, raw_columns, rows, pipe, bad, inner):
        self.head, self.columns, self.raw_columns, self.rows = head, columns, raw_columns, rows
        self.pipe, self.bad = pipe, bad
        self.inner = dict(zip(rows, inner)) if inner else {}  # row -> (start, end) inside its pipes


def _indent(s: str) -> tuple[int, int]:
    """(column, index) of the first non-blank character; tabs stop every 4 columns."""
    col = 0
    for i, ch in enumerate(s):
        if ch == " ":
            col += 1
        elif ch == "\t":
            col += 4 - col % 4
        else:
            return col, i
    return col, len(s)


def _pipe_inner(s: str) -> tuple[int, int] | None:
    """The (start, end) of a pipe-table row's inside, between its outer pipes, or None."""
    text = s.rstrip(" \t")
    lead = 0 if text.startswith("|") else len(text) - len(text.lstrip(" "))
    if not text.startswith("|", lead) or not text.endswith("|") or len(text) - lead < 2:
        return None
    return lead + 1, len(text) - 1


def _split_cells(s: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the cells of ``s[start:end]``, split at pipes not escaped by a backslash."""
    end = len(s) if end is None else end
    if s.find("\\", start, end) < 0:  # the common case: no backslash, every pipe splits
        spans = []
        a = start
        i = s.find("|", start, end)
        while i >= 0:
            spans.append((a, i))
            a = i + 1
            i = s.find("|", a, end)
        spans.append((a, end))
        return spans
    spans = []
    a = start
    i = s.find("|", start, end)
    while i >= 0:
        k = i - 1
        while k >= start and s[k] == "\\":
            k -= 1
        if (i - 1 - k) % 2 == 0:  # an even number of backslashes before it: a real pipe
            spans.append((a, i))
            a = i + 1
        i = s.find("|", i + 1, end)
    spans.append((a, end))
    return spans


def row_cells(s: str, pipe: bool) -> list[tuple[int, int]]:
    """Cell spans of a table line: inside the outer pipes for a pipe table, else the whole line."""
    if pipe:
        inner = _pipe_inner(s)
        return _split_cells(s, *inner) if inner else []
    return _split_cells(s, 0, len(s.rstrip(" \t")))


def _is_align(cell: str) -> bool:
    """A delimiter row's cell (stripped): ``---``, ``:--``, ``--:`` or ``:-:``."""
    core = cell[1:] if cell.startswith(":") else cell
    core = core[:-1] if core.endswith(":") else core
    return bool(core) and not core.strip("-")


def _table_at(lines: list[str], i: int):
    """The table whose header is line ``i``, read as mistune's table plugin reads it.

    None when there is none; else (end, pipe, bad, inner): ``end`` is the line after its last
    row, ``pipe`` whether rows are ``| ... |``, ``bad`` the 0-based line of a row whose cell
    count differs from the header's (or None), ``inner`` each pipe row's span inside its outer
    pipes. (mistune renders such a pipe table as a
    paragraph; robe reads no tasks from it and says so.)
    """
    if i + 1 >= len(lines):
        return None
    head, delim = lines[i], lines[i + 1]
    for pipe in (True, False):
        if pipe and (_pipe_inner(head) is None or _pipe_inner(delim) is None):
            continue
        if not pipe and ("|" not in delim or not delim.strip(" \t")):
            return None
        cells = row_cells(head, pipe)
        aligns = row_cells(delim, pipe)
        if len(cells) != len(aligns) or not all(
                _is_align(delim[a:b].strip()) or not delim[a:b].strip() for a, b in aligns):
            return (_pipe_paragraph(lines, i + 2), pipe, i + 1, None) if pipe else None
        j = i + 2
        width = len(cells)
        inners = []
        while j < len(lines):
            line = lines[j]
            # Only the number of cells matters here; a row's cells are split when a task is read.
            if pipe:
                inner = _pipe_inner(line)
                if inner is None:
                    break
                count = (line.count("|", *inner) + 1 if line.find("\\", *inner) < 0
                         else len(_split_cells(line, *inner)))
                inners.append(inner)
            elif "|" not in line or not line.strip(" \t"):
                break
            else:
                count = len(row_cells(line, pipe))
            if count != width:
                return (_pipe_paragraph(lines, j + 1), pipe, j, None) if pipe else None
            j += 1
        return j, pipe, None, inners
    return None


def _pipe_paragraph(lines: list[str], j: int) -> int:
    """Where the paragraph mistune makes of a broken pipe table ends: at the first non-row."""
    while j < len(lines) and _pipe_inner(lines[j]) is not None:
        j += 1
    return j


def _can_interrupt_paragraph(t: str) -> bool:
    """Whether the de-indented line ``t`` starts a block that ends an open paragraph."""
    c = t[0]
    if c in "-+*" and t[1:2] in (" ", "\t") and t[2:].strip(" \t"):
        return True  # a bullet item with content (or a thematic break): both interrupt
    if c == "#":
        return bool(_ATX_RE.match(t))
    if c == ">":
        return True
    if c in "`~":
        m = _fence(t)
        return bool(m) and not (c == "`" and "`" in m.group(2))
    if c == "<":
        h1, h6, _ = _html()
        return bool(h1.match(t) or t.startswith(("<!--", "<?", "<![CDATA[")) or h6.match(t)
                    or (t.startswith("<!") and len(t) > 2 and t[2].isalpha()))
    if c in "-*_" and not t.strip("-*_ \t") and _is_break(t):
        return True
    m = _ITEM_RE.match(t)
    if m:
        if not t[m.end():].strip():
            return False  # an empty item cannot interrupt a paragraph
        marker = m.group(1)
        return marker in "-+*" or marker[:-1] == "1"
    return False


def _ends_list_item(t: str) -> bool:
    """Whether a line indented less than an open list item's content ends that item."""
    c = t[0]
    if c in "-+*" and t[1:2] in (" ", "\t"):
        return True  # another item, or a thematic break: either ends it (the common case: field lists)
    if c == "#":
        return bool(_ATX_RE.match(t))
    if c == ">":
        return True
    return _ends_quote(t)


def _ends_quote(t: str) -> bool:
    """Whether a line without ">" ends a block quote instead of continuing it lazily."""
    c = t[0]
    if c in "-*_" and not t.strip("-*_ \t") and _is_break(t):
        return True
    if c in "`~" and _fence(t):
        return True
    if _ITEM_RE.match(t):
        return True
    if c == "<":
        h1, h6, h7 = _html()
        return bool(h1.match(t) or t.startswith(("<!--", "<?", "<![CDATA[")) or h6.match(t) or h7.match(t)
                    or (t.startswith("<!") and len(t) > 2 and t[2].isalpha()))
    return False


def _atx_text(t: str, m) -> str:
    """The text of the ATX heading line ``t`` (de-indented) that ``_ATX_RE`` matched as ``m``."""
    raw = t[m.end():]
    if not raw.strip():
        return ""
    if raw.rstrip(" \t").endswith("#"):  # a closing sequence only if it ends in #
        raw = re.sub(_ATX_CLOSE, "", raw)
    return raw.strip()


def _blocks(lines: list[str], lo: int = 0, hi: int | None = None, kinds: list | None = None):
    """Pass 1: the kind of each line, the list items, the headings and the tables.

    ``lo``/``hi``: only the lines from ``lo`` to before ``hi``, read as if ``lo`` began the file
    (a segment, see _Segments), their kinds written into ``kinds``.
    """
    n = len(lines) if hi is None else hi
    if kinds is None:
        kinds = [BLANK] * len(lines)
    items: list[_Item] = []
    headings: list[_Heading] = []
    tables: list[_Table] = []
    stack: list[_Item] = []  # open list items, innermost last
    fence = None  # (char, length, base column) of an open fence
    html_end = None  # "" = ends at a blank line; else a substring that ends it
    in_para = False
    para_start = 0
    prev_blank = True
    quote_lazy = False  # may the next non-">" line continue the quote?
    quote_marker_only = False  # the quote began with code: only ">" lines continue it
    in_quote = False
    skip_to = -1  # lines up to here belong to a table read whole
    last_nb = nb_before = -1
    for i in range(lo, n):
        if i <= skip_to:
            continue
        s = lines[i]
        t = s.lstrip(" \t")
        pos = len(s) - len(t)
        col = pos if not pos or "\t" not in s[:pos] else _indent(s)[0]
        if t:
            # A list item popped at this line ends at the last non-blank line before it.
            nb_before, last_nb = last_nb, i
        if fence is not None:
            if t and col < fence[2]:
                fence = None  # the container holding the fence ended
            else:
                kinds[i] = CODE
                if t.startswith(fence[0] * fence[1]) and not t.strip(fence[0]).strip() and col - fence[2] < 4:
                    fence = None
                continue
        if html_end is not None:
            if html_end == "":
                if not s.strip():
                    html_end = None
                else:
                    kinds[i] = HTML
                    continue
            else:
                kinds[i] = HTML
                if html_end in s.lower():
                    html_end = None
                continue
        if not t:  # blank
            kinds[i] = BLANK
            in_para = False
            in_quote = quote_lazy = False
            prev_blank = True
            continue
        c = t[0]
        if (in_para and not stack and not in_quote and col < 4 and c not in _BLOCK_CHARS
                and "|" not in t):
            # Fast path, the commonest line: more text of a top-level paragraph.
            kinds[i] = PARA
            prev_blank = False
            continue
        if in_quote and c != ">":
            # mistune's rule: any line continues a quote lazily unless the quote's last line
            # was blank, or the quote began with code, or the line starts a thematic break,
            # fence, list item or HTML block.
            if quote_lazy and (col > 3 or not _ends_quote(t)):
                kinds[i] = QUOTE
                continue
            in_quote = quote_lazy = False
        if stack and col < stack[-1].content_col:
            if not prev_blank and (col > stack[-1].lead or not _ends_list_item(t)):
                # mistune's rule: a list item takes any following line lazily unless a blank
                # line came first or the line starts a rule, fence, heading, quote, HTML
                # block or another item (even with no paragraph open, unlike CommonMark),
                # indented no more than the item's own marker.
                kinds[i] = PARA
                continue
            while stack and col < stack[-1].content_col:
                stack.pop().last = nb_before
            in_para = False
        base = stack[-1].content_col if stack else 0
        rel = col - base
        was_blank, prev_blank = prev_blank, False
        if rel >= 4:
            kinds[i] = PARA if in_para else CODE
            continue
        if c == ">":
            kinds[i] = QUOTE
            inner = t[2:] if t[1:2] == " " else t[1:]
            if not in_quote:
                stripped = inner.lstrip(" ")
                quote_marker_only = (not stripped or len(inner) - len(stripped) >= 4
                                     or bool(_fence(stripped)))
            in_quote = True
            quote_lazy = not quote_marker_only and bool(inner.strip())
            in_para = False
            continue
        if c in "`~":
            m = _fence(t)
            if m and not (c == "`" and "`" in m.group(2)):
                kinds[i] = CODE
                fence = (c, len(m.group(1)), col)
                in_para = False
                continue
        if c == "<":
            h1, h6, h7 = _html()
            end = None
            if h1.match(t):
                end = "</" + h1.match(t).group(1).lower() + ">"
            elif t.startswith("<!--"):
                end = "-->"
                if "-->" in t[4:]:
                    end = "done"
            elif t.startswith("<?"):
                end = "?>"
            elif t.startswith("<![CDATA["):
                end = "]]>"
            elif t.startswith("<!") and len(t) > 2 and t[2].isalpha():
                end = ">"
            elif h6.match(t) or (not in_para and h7.match(t)):
                end = ""
            if end is not None:
                kinds[i] = HTML
                in_para = False
                if end and end != "done" and (end not in t.lower() or end == "-->"):
                    html_end = end
                elif end == "":
                    html_end = ""
                continue
        if c == "#":
            m = _ATX_RE.match(t)
            if m:
                kinds[i] = HEADING
                headings.append(_Heading(i, i, len(m.group(1)), _atx_text(t, m), not stack and not in_quote))
                in_para = False
                continue
        if in_para and c in "=-" and not t.rstrip(" \t").strip(c):  # a setext underline: === or ---
            kinds[i] = SETEXT_RULE
            for j in range(para_start, i):
                kinds[j] = HEADING
            text = " ".join(lines[j].strip() for j in range(para_start, i))
            headings.append(_Heading(para_start, i, 1 if c == "=" else 2, text, not stack))
            in_para = False
            continue
        if c in "-*_" and not t.strip("-*_ \t") and _is_break(t):
            kinds[i] = BREAK
            in_para = False
            continue
        m = _ITEM_RE.match(t)
        if m and (not in_para or was_blank or _can_interrupt_paragraph(t)):
            kinds[i] = ITEM
            marker_end = col + len(m.group(1))
            spaces = m.group(2)
            rest = t[m.end():]
            if not rest.strip():
                content_col = marker_end + 1
                start = pos + len(m.group(1)) + min(1, len(spaces))
            else:
                width = len(spaces) if "\t" not in spaces else _indent(" " * marker_end + spaces)[0] - marker_end
                if width > 4:
                    content_col = marker_end + 1
                    start = pos + len(m.group(1)) + 1
                else:
                    content_col = marker_end + width
                    start = pos + m.end()
            # mistune: the marker's indent plus its width, at most 3, within the container
            item = _Item(i, col, content_col, start, i, base + min(marker_end - base, 3))
            items.append(item)
            stack.append(item)
            in_para = True
            para_start = i
            continue
        if "|" in t and not stack:  # mistune reads no tables inside list items
            found = _table_at(lines, i)
            if found is not None:
                end, pipe, bad, inner = found
                cells = [s[a:b].strip() for a, b in row_cells(s, pipe)]
                table = _Table(i, [c.strip("*_` ").lower() for c in cells], cells, list(range(i + 2, end)), pipe, bad,
                               inner)
                tables.append(table)
                kind = TABLE_ROW if bad is None else PARA
                kinds[i:end] = [kind] * (end - i)
                if bad is None:
                    kinds[i], kinds[i + 1] = TABLE_HEAD, TABLE_DELIM
                    in_para = False
                elif not in_para:
                    in_para, para_start = True, i
                last_nb = skip_to = end - 1
                continue
        kinds[i] = PARA
        if not in_para:
            in_para = True
            para_start = i
    for it in stack:
        it.last = last_nb
    return kinds, items, headings, tables


def split_lines(text: str, start: int = 0, end: int | None = None) -> tuple[list[str], list[int]]:
    """Lines without their ``\\n``/``\\r\\n`` ending, and the offset where each starts; with
    ``start``/``end``, those of the lines in ``text[start:end]`` (``start`` where a line starts,
    ``end`` just past a newline, or None: to the end of the text)."""
    if not start and text.startswith("\ufeff"):
        start = 1  # line 0 starts after the BOM
    chunk = text[start:end]
    lines = chunk.split("\n")
    if end is not None:
        lines.pop()  # the empty rest after the stretch's last newline
    # Line i starts after the lengths of the lines before it and their i newlines (in C).
    offsets = list(map(operator.add, accumulate(map(len, lines), initial=start), range(len(lines))))
    if "\r" in chunk:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines, offsets


# --- pass 2 ----------------------------------------------------------------------------


class _Field(record("_Field", "key value value_start line prefix sep", defaults=("", ": "))):
    """A ``Key: Value`` line: key and value as written, the file offset of the value, the
    line (0-based), the text before the key (indent, marker, bold opener) and between the
    key and the value (so a new field can copy the style). Built with tuple.__new__ (_field)."""

    __slots__ = ()
    # Fields:
    #   key: str
    #   value: str
    #   value_start: int
    #   line: int
    #   prefix: str = ""
    #   sep: str = ": "


_tuple_new = tuple.__new__


class _Draft:
    """A task being built; becomes a Task once its fields are read and it is validated."""

    __slots__ = ("id", "title", "line", "end_line", "style", "section", "heading_priority", "priority",
                 "status", "status_span", "insert_at", "insert_template", "checkbox_span", "cell_span",
                 "assignee", "depends", "tags", "fields", "body", "problems")

    def __init__(self, id, title, line, end_line, style, section, heading_priority):
        self.id, self.title, self.line, self.end_line, self.style = id, title, line, end_line, style
        self.section, self.heading_priority = section, heading_priority
        self.priority = self.status = self.status_span = self.insert_at = self.insert_template = None
        self.checkbox_span = self.cell_span = self.assignee = None
        self.depends = self.tags = ()
        self.fields, self.problems = [], []
        self.body = ""


def _field_parts(s: str, cstart: int):
    """(key stripped, value, key start, key end, value start) of a ``Key: Value`` line
    beginning at ``s[cstart]``, or None; the positions are indexes into ``s``.

    The common field (a plain key, a colon, a space) is read with str methods; anything else
    (bold keys, odd characters) goes through the _FIELD pattern, whose verdicts the plain reading
    reproduces (tests/queue/test_scan_paths.py).
    """
    colon = s.find(":", cstart)
    if colon < 0:
        return None
    raw = s[cstart:colon]
    if (raw and colon - cstart <= 41 and raw[0] in _ASCII_LETTERS and not raw.strip(_KEY_CHARS)
            and not raw.endswith("__")):
        after = s[colon + 1:colon + 2]
        if after and after not in " \t":
            return None  # "Key:x", "Key:**": no field, as the _FIELD pattern says
        key = raw.strip()
        if "-" in key and _ID_AT_START.match(key):
            return None
        vs = colon + 1
        n = len(s)
        while vs < n and s[vs] in " \t":
            vs += 1
        return key, s[vs:].rstrip(" \t"), cstart, colon, vs
    return _field_parts_by_regex(s, cstart)


def _field_parts_by_regex(s: str, cstart: int):
    """_field_parts read by the _FIELD pattern alone: bold keys, odd characters (and the tests'
    reference)."""
    m = re.compile(_FIELD).match(s, cstart)  # compiled once, by re's own cache
    if not m:
        return None
    b1, b2, b3, key = m.group("b1", "b2", "b3", "key")
    if b1 and not (b2 or b3) or (b2 or b3) and not b1:
        return None
    key = key.strip()
    if not key or key[0] == "[" or _ID_AT_START.match(key):
        return None
    ks, ke = m.span("key")
    return key, m.group("value"), ks, ke, m.start("value")


def _field_block(lines, offsets, kinds, start, stop, indent_limit, item_starts):
    """Leading ``Key: Value`` lines from ``start`` (0-based) up to ``stop`` (exclusive).

    Either list items (``- Key: Value``) or plain lines of one paragraph. A block counts only
    if one of its keys is a known one (status, priority, assignee, depends, tags), so a
    body that opens with ``Goal: ...`` stays body. Returns (fields, next line after block).
    """
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
            item = item_starts.get(k)
            if item is None or item.indent >= indent_limit:
                break
            cstart = item.content_start
        else:
            col, pos = _indent(s)
            if pos == len(s) or kinds[k] != PARA or col >= indent_limit + 4:
                break
            cstart = pos
        got = _field_parts(s, cstart)
        if not got:
            break
        key, value, ks, ke, vs = got
        found.append(_tuple_new(_Field, (key, value, offsets[k] + vs, k, s[:ks], s[ke:vs])))
        k += 1
    if not found or not any(f[0].lower() in _KNOWN_KEYS for f in found):
        return [], start
    if first_kind == PARA and k < stop and kinds[k] == PARA:
        return [], start  # the paragraph goes on with text that is not a field: it is body
    return found, k


def _word(value: str):
    """(word, start, end) of a value's first word, allowing **, `, [], () around it."""
    m = _WORD_RE.match(value)
    if not m or _PAIRS.get(m.group(1)) != m.group(3):
        return None
    return m.group(2), m.start(2), m.end(2)


def _status_problem(draft, path, line, word):
    alias = STATUS_ALIASES.get(word.upper())
    hint = f"did you mean {alias}? " if alias else ""
    hint += "statuses are " + ", ".join(STATUS_WORDS)
    draft.problems.append(Problem(path, line, f"{draft.id} has an unknown status '{word}'", hint,
                                  draft.id, code="status"))


def _apply_fields(draft: _Draft, fields: list[_Field], path: str) -> None:
    for f in fields:
        key = f[0].lower()
        v = f[1]
        line = f[3] + 1
        if key == "status":
            if draft.status_span is not None:
                continue  # the first Status wins (a list task's inline word, or an earlier field)
            if v in _STATUS_BY_WORD:  # the common case: just the word, as robe writes it
                draft.status = _STATUS_BY_WORD[v]
                draft.status_span = (f[2], f[2] + len(v))
                continue
            w = _word(v)
            if not v:
                draft.insert_at, draft.insert_template = f[2], "{status}"
                continue
            st = parse_status(w[0]) if w else None
            if st is None:
                _status_problem(draft, path, line, v.split()[0] if v.split() else v)
                continue
            draft.status = st
            draft.status_span = (f[2] + w[1], f[2] + w[2])
        elif key == "priority":
            w = _word(v)
            p = parse_priority(w[0]) if w else None
            if p is None and v:
                draft.problems.append(Problem(path, line, f"{draft.id} has an unknown priority '{v}'",
                                              "priorities are P0 (most urgent), P1, P2 and P3", draft.id,
                                              code="priority"))
            elif p:
                draft.priority = p
        elif key == "assignee":
            a = v.strip("`*@ ").lower()
            draft.assignee = a if a and a not in ("-", "none", "unassigned", "nobody") else None
        elif key == "depends":
            deps = []
            for d in _DEPENDS_SPLIT_RE.split(v):
                d = d.strip("`*[]() ")
                if not d or d.lower() in ("-", "none"):
                    continue
                if not _FULL_ID_RE.match(d):
                    draft.problems.append(Problem(path, line, f"{draft.id} depends on '{d}', which is not a task ID",
                                                  "write task IDs such as TASK-001, separated by commas", draft.id,
                                                  code="depends"))
                    continue
                deps.append(d)
            draft.depends = tuple(dict.fromkeys(deps))
        elif key == "tags":
            tags = [t.strip("`*# ").lower() for t in (v.split(",") if "," in v else v.split())]
            draft.tags = tuple(filter(None, tags))
        else:
            draft.fields.append((f[0], v))


def _inline_words(content: str, pos: int):
    """Priority/status words right after a list task's ID: yields (word, start, end)."""
    while True:
        m = _SEPARATOR_RE.match(content, pos)
        p = m.end()
        w = _WORD_RE.match(content, p)
        if not w or _PAIRS.get(w.group(1)) != w.group(3):
            return
        end = w.end()
        if end < len(content) and not content[end].isspace() and content[end] not in ":\u2014\u2013":
            return
        yield w.group(2), w.start(2), w.end(2), bool(w.group(1)), end
        pos = end


def _list_task(draft_args, lines, offsets, kinds, item: _Item, path, newline, item_starts):
    s = lines[item.line]
    base = offsets[item.line]
    content = s[item.content_start:]
    cstart = item.content_start
    cb = _CHECKBOX_RE.match(content)
    checkbox = None
    p = 0
    if cb:
        checkbox = (base + cstart + cb.start(1), base + cstart + cb.end(1), cb.group(1))
        p = cb.end()
    m = _ID_AT_START.match(content, p)
    if not m:
        return None
    draft = _Draft(m.group(1), "", item.line + 1, item.last + 1, "list", *draft_args)
    pos = m.end()
    title_at = pos
    priority_end = pos
    for word, ws, we, wrapped, end in _inline_words(content, pos):
        up = word.upper()
        if draft.priority is None and parse_priority(word):
            draft.priority = up
            priority_end = title_at = end
            continue
        # A bare status word must be upper case, so "Complete the migration" stays a title.
        if draft.status is None and draft.status_span is None and up in STATUS_WORDS and (wrapped or word == up):
            draft.status = Status(up)
            draft.status_span = (base + cstart + ws, base + cstart + we)
            title_at = end
            continue
        if wrapped and up in STATUS_ALIASES:
            _status_problem(draft, path, item.line + 1, word)
            title_at = end
            continue
        break
    draft.title = _SEPARATOR_RE.sub("", content[title_at:], count=1).strip()
    if checkbox:
        draft.checkbox_span = checkbox[:2]
    # Body: the item's other lines, de-indented; leading Key: Value lines are fields.
    if item.last > item.line:
        fields, after = _field_block(lines, offsets, kinds, item.line + 1, item.last + 1, item.content_col + 4,
                                     item_starts)
        if fields and kinds[fields[0].line] == ITEM:
            ok = all(_indent(lines[f.line])[0] >= item.content_col for f in fields)
            if not ok:
                fields, after = [], item.line + 1
        if fields:
            _apply_fields(draft, fields, path)
    else:  # a one-line item (the commonest list task): no fields, no body
        after = item.line + 1
    if draft.status_span is None and draft.insert_at is None:
        draft.insert_at = base + cstart + priority_end
        glued = priority_end < len(content) and not content[priority_end].isspace()
        draft.insert_template = " {status} " if glued else " {status}"
    if draft.status is None and draft.status_span is None and checkbox and checkbox[2] in "xX":
        draft.status = Status.COMPLETE
    elif checkbox and draft.status is not None and (checkbox[2] in "xX") != (draft.status is Status.COMPLETE):
        draft.problems.append(Problem(path, item.line + 1,
                                      f"{draft.id}'s checkbox says [{checkbox[2]}] but its status is {draft.status}",
                                      "the status word wins; robe keeps the box in step when it changes the status",
                                      draft.id, severity="warning", code="checkbox"))
    if after <= item.last:
        body_lines = []
        for j in range(after, item.last + 1):
            t = lines[j]
            c, p2 = _indent(t)
            body_lines.append(t[p2:] if c <= item.content_col else " " * (c - item.content_col) + t[p2:])
        draft.body = "\n".join(body_lines).strip("\n")
    return draft


def _section_task(draft_args, lines, offsets, kinds, h: _Heading, end: int, path, newline, item_starts):
    m = _ID_AT_START.match(h.text)
    if not m:
        return None
    title = _SEPARATOR_RE.sub("", h.text[m.end():], count=1).strip()
    draft = _Draft(m.group(1), title, h.start + 1, end + 1, "section", *draft_args)
    fields, after = _field_block(lines, offsets, kinds, h.end + 1, end + 1, 4, item_starts)
    _apply_fields(draft, fields, path)
    if draft.status_span is None and draft.insert_at is None:
        if fields:
            # A new field line after the last one, in its style (marker, indent, bold).
            last = fields[-1]
            draft.insert_at = _line_end(offsets, lines, last.line)
            lead = "" if last.line + 1 < len(lines) else newline
            draft.insert_template = lead + last.prefix + "Status" + last.sep.rstrip() + " {status}" + newline
        else:
            gap = h.end + 1 < len(lines) and kinds[h.end + 1] != BLANK
            lead = "" if h.end + 1 < len(lines) else newline
            draft.insert_at = _line_end(offsets, lines, h.end)
            draft.insert_template = lead + "- Status: {status}" + newline + (newline if gap else "")
    body = "\n".join(lines[after:end + 1]).strip("\n")
    draft.body = body
    return draft


def _line_end(offsets, lines, j):
    """Offset just past line j's ending (where a new line would start)."""
    if j + 1 < len(offsets):
        return offsets[j + 1]
    return offsets[j] + len(lines[j])


def _table_tasks(table: _Table, rows, lines, offsets, context, path, problems):
    cols = table.columns
    if "id" not in cols or "status" not in cols:
        return []
    ci = cols.index("id")
    cs = cols.index("status")
    ct = cols.index("task") if "task" in cols else cols.index("title") if "title" in cols else None
    cp = cols.index("priority") if "priority" in cols else None
    if table.bad is not None:
        problems.append(Problem(path, table.head + 1,
                                f"this task table is not read: the row at line {table.bad + 1} has "
                                f"{len(row_cells(lines[table.bad], table.pipe))} cells but the header has {len(cols)}, so "
                                "markdown shows the whole table as plain text",
                                f"give every row {len(cols)} cells (write a | inside a cell as \\|)", code="table"))
        return []
    drafts = []
    extra = [(k, table.raw_columns[k].strip("*_` ")) for k in range(len(cols)) if k not in (ci, cs, ct)]
    section, heading_priority = context(table.head)  # no heading can stand inside a table
    pipe, inner = table.pipe, table.inner
    for r in rows:
        s = lines[r]
        spans = _split_cells(s, *inner[r]) if pipe else row_cells(s, False)
        cells = [s[a:b] for a, b in spans]
        raw_id = cells[ci].strip().strip("`*") if ci < len(cells) else ""
        if not _FULL_ID_RE.match(raw_id):
            if raw_id or any(c.strip() for c in cells):
                problems.append(Problem(path, r + 1, f"table row has an invalid task ID '{raw_id}'",
                                        "IDs are upper-case letters, a dash and a number, such as TASK-001",
                                        code="id"))
            continue
        draft = _Draft(raw_id, "", r + 1, r + 1, "table", section, heading_priority)
        if cs < len(cells):
            a, b = spans[cs]
            cell = s[a:b]
            v = cell.strip()
            lead = len(cell) - len(cell.lstrip())
            draft.cell_span = (offsets[r] + a, offsets[r] + b)
            if not v:
                draft.insert_at = offsets[r] + a + min(lead, 1)
                draft.insert_template = "{status}"
            elif v in _STATUS_BY_WORD:  # the common case: just the word, as robe writes it
                draft.status = _STATUS_BY_WORD[v]
                start = offsets[r] + a + lead
                draft.status_span = (start, start + len(v))
            else:
                w = _word(v)
                st = parse_status(w[0]) if w and w[2] == len(v.rstrip("*`])")) else None
                if st is None:
                    _status_problem(draft, path, r + 1, v)
                else:
                    draft.status = st
                    draft.status_span = (offsets[r] + a + lead + w[1], offsets[r] + a + lead + w[2])
        if ct is not None and ct < len(cells):
            draft.title = cells[ct].strip().replace("\\|", "|")
        fields = []
        for k, name in extra:
            v = cells[k].strip()
            if k == cp:
                if v:
                    p = parse_priority(v.strip("*` "))
                    if p is None:
                        draft.problems.append(Problem(path, r + 1, f"{raw_id} has an unknown priority '{v}'",
                                                      "priorities are P0 (most urgent), P1, P2 and P3", raw_id,
                                                      code="priority"))
                    draft.priority = p
                continue
            fields.append(_tuple_new(_Field, (name, v.replace("\\|", "|") if "\\" in v else v,
                                              offsets[r] + spans[k][0], r, "", ": ")))
        if fields:
            _apply_fields(draft, fields, path)
        drafts.append(draft)
    return drafts


def parse(text: str, path: str = "WORK-QUEUE.md", *, default_priority: str = DEFAULT_PRIORITY,
          known_assignees=None, only=None, hint=None) -> Queue:
    """Parse queue text (BOM included, if any) into a Queue. Never raises for bad content.

    With ``only`` (a collection of IDs), the Queue holds just those tasks and the tasks they
    depend on, judged exactly as in a full parse; it is marked ``partial``. Edits that touch
    a few tasks use it: on a 10,000-task file it skips most of the work. ``hint``: another
    text of the file and its segment plan (robe.queue.cache.lookup), from which the partial
    parse plans this text's segments by looking only at the lines where the two differ.
    """
    try:
        # see model.without_gc
        return without_gc(_parse, text, path, default_priority, known_assignees, only, True, hint)
    except _Unplanned:  # a segment did not read as _Segments expects: pass 1 over the whole text
        return without_gc(_parse, text, path, default_priority, known_assignees, only, False)


class _Unplanned(Exception):
    """A segment of pass 1 did not read as the segment plan said it would."""


# Lines after which a top-level ATX heading at column 0 might not be one, or not the only
# kind of top-level heading: fences, HTML blocks, block quotes, setext underlines, indented
# ATX headings, a heading holding a pipe (a row of a table without outer pipes).
# Written to begin with a newline (searched in "\n" + text): re then skips to newlines in C.
_UNSEGMENTED = r"\n(?:[ \t]*(?:```|~~~|[<>])|[ \t]*(?:=+|-+)[ \t]*\r?(?=\n|\Z)| {1,3}#|#[^\n]*\|)"


def _top_headings(lines: list[str], rows) -> tuple[list[int], list[int], list[str]]:
    """The lines, levels and texts of the ATX headings among ``rows``, lines that begin with "#"."""
    starts, levels, texts = [], [], []
    for i in rows:
        s = lines[i]
        m = _ATX_RE.match(s)
        if m:
            starts.append(i)
            levels.append(len(m.group(1)))
            texts.append(_atx_text(s, m))
    return starts, levels, texts


def _defeats_segments(line: str) -> bool:
    """Whether one line (as written, maybe ending in "\\r") is one of _UNSEGMENTED's: the same
    test without compiling that pattern, for the few lines of an edit."""
    t = line.lstrip(" \t")
    if t.startswith(("```", "~~~", "<", ">")):
        return True
    core = (line[:-1] if line.endswith("\r") else line).strip(" \t")
    if core and (not core.strip("=") or not core.strip("-")):
        return True
    spaces = len(line) - len(line.lstrip(" "))
    if 1 <= spaces <= 3 and line[spaces:spaces + 1] == "#":
        return True
    return line[:1] == "#" and "|" in line


class _Segments:
    """Pass 1 a segment at a time, for a partial parse of a queue without long-range blocks.

    In a queue with none of _UNSEGMENTED's lines, every line that begins with an ATX heading at
    column 0 is a top-level heading, and pass 1 leaves the same state after each of them (no
    open list item, paragraph, quote, fence or HTML block). So the text splits into segments
    at those lines, each read by pass 1 on its own exactly as a reading of the whole text
    reads it, and a partial parse reads only the segments that hold its tasks: on a
    1,000-task queue, a handful of lines instead of ~3,000. Whatever a segment holds that the
    plan did not expect (another top-level heading) raises _Unplanned, and the whole text is
    read instead. The property tests compare partial and whole parses.
    """

    def __init__(self, lines, starts, levels, texts, head_offsets, sparse=None, links=None):
        self.lines = lines
        # The top-level headings (one per segment but maybe the first): their lines, levels,
        # texts and where they start in the text, and how they nest (_links), when known.
        self.starts, self.levels, self.texts, self.head_offsets = starts, levels, texts, head_offsets
        self._links = links
        # The first line of each segment, and where it starts (split_lines skips a BOM).
        if starts and not starts[0]:
            self.bounds, self.bound_offsets = starts, [0, *head_offsets[1:]]
        else:
            self.bounds, self.bound_offsets = [0, *starts], [0, *head_offsets]
        kinds = self.kinds = [BLANK] * len(lines)
        for i in starts:
            kinds[i] = HEADING
        self.items: list[_Item] = []
        self.tables: list[_Table] = []
        self.read: set[int] = set()
        # (text, offsets): ``lines`` and ``offsets`` hold only the lines read so far (None
        # elsewhere), and a segment's lines are split from the text when it is read (see fill).
        self.sparse = sparse
        self.filled: set[int] = set()

    @classmethod
    def plan(cls, text: str, lines: list[str], offsets: list[int], hint: tuple | None = None):
        """The segments of ``text``, or None when it holds a line that defeats them. ``hint``:
        another text of the file and its plan (``kept``), whose lines are taken where the texts
        agree."""
        if hint is not None and hint[0].startswith("\ufeff") == text.startswith("\ufeff"):
            return cls.after_change(lines, offsets, hint[1], _Change(hint[0], text, hint[1]))
        if re.search(_UNSEGMENTED, "\n" + text.lstrip("\ufeff")):
            return None
        rows = [0] if lines[0][:1] == "#" else []  # line 0 (maybe after a BOM) has no newline before it
        pos = text.find("\n#")
        while pos >= 0:  # the other lines that begin with "#", found in C
            rows.append(bisect.bisect_left(offsets, pos + 1))
            pos = text.find("\n#", pos + 1)
        starts, levels, texts = _top_headings(lines, rows)
        return cls(lines, starts, levels, texts, [offsets[i] for i in starts])

    @classmethod
    def after_change(cls, lines: list[str], offsets: list[int], kept: tuple, ch: _Change, sparse=None):
        """The segments of a text that differs as ``ch`` says from a text with the plan ``kept``
        (see ``kept``); None when one of the changed lines defeats segments (the old text, having
        a plan, had none). Of ``lines`` and ``offsets``, only the changed lines are read."""
        c0, c1, last0, dl, dc = ch.c0, ch.c1, ch.last0, ch.dl, ch.dc
        if any(map(_defeats_segments, lines[c0:c1 + 1])):
            return None
        starts, levels, texts, offs, _, *links = kept
        k0, k1 = bisect.bisect_left(starts, c0), bisect.bisect_right(starts, last0)
        new_starts, new_levels, new_texts = _top_headings(lines, [i for i in range(c0, c1 + 1) if lines[i][:1] == "#"])
        return cls(lines, [*starts[:k0], *new_starts, *(starts[k1:] if not dl else [a + dl for a in starts[k1:]])],
                   [*levels[:k0], *new_levels, *levels[k1:]], [*texts[:k0], *new_texts, *texts[k1:]],
                   [*offs[:k0], *[offsets[i] for i in new_starts], *(offs[k1:] if not dc else [o + dc for o in offs[k1:]])],
                   # The same levels in the same order nest the same way.
                   sparse, links if links and new_levels == list(levels[k0:k1]) else None)

    @property
    def links(self) -> tuple:
        if self._links is None:
            self._links = _links(self.levels)
        return self._links

    def kept(self) -> tuple:
        """The plan in a form robe.queue.cache can store: the top-level headings' lines, levels,
        texts and offsets, the number of lines of the text, and how the headings nest."""
        parents, nexts = self.links
        return (tuple(self.starts), tuple(self.levels), tuple(self.texts), tuple(self.head_offsets),
                len(self.lines), tuple(parents), tuple(nexts))

    def segment_of(self, line: int) -> int:
        return bisect.bisect_right(self.bounds, line) - 1

    def fill(self, first: int, last: int) -> None:
        """Split from the text the lines of the segments holding lines ``first`` to ``last``,
        and the line after them (pass 1 and pass 2 may look one line ahead), when ``lines`` is
        sparse."""
        if self.sparse is None:
            return
        text, offsets = self.sparse
        lines, bounds, bound_offsets = self.lines, self.bounds, self.bound_offsets
        for k in range(self.segment_of(first), self.segment_of(last) + 1):
            if k in self.filled:
                continue
            self.filled.add(k)
            lo = bounds[k]
            if k + 1 < len(bounds):
                hi, end = bounds[k + 1], bound_offsets[k + 1]
                nl = text.find("\n", end)
                hi_rows, hi_offs = split_lines(text, end, None if nl < 0 else nl + 1)
                lines[hi], offsets[hi] = hi_rows[0], hi_offs[0]
            else:
                hi, end = len(lines), None
            rows, offs = split_lines(text, bound_offsets[k], end)
            # A plan whose offsets are not this text's would misplace every line: never used.
            if len(rows) != hi - lo or (hi < len(lines) and lines[hi][:1] != "#") or (lo and rows[0][:1] != "#"):
                raise _Unplanned
            lines[lo:hi], offsets[lo:hi] = rows, offs

    def read_segment(self, k: int) -> None:
        if k in self.read:
            return
        self.read.add(k)
        lo = self.bounds[k]
        hi = self.bounds[k + 1] if k + 1 < len(self.bounds) else len(self.lines)
        self.fill(lo, lo)
        _, items, headings, tables = _blocks(self.lines, lo, hi, self.kinds)
        if [h.start for h in headings if h.top] != ([lo] if self.kinds[lo] == HEADING else []):
            raise _Unplanned
        self.items.extend(items)
        self.tables.extend(tables)

    def cover(self, wanted, text: str, offsets: list[int]) -> None:
        """Read every segment with a line that mentions a wanted ID. (A section task's block
        may run on under deeper headings, but pass 2 takes only its body's text from there:
        its fields follow its heading, and the kinds of the segments' first lines are known.)"""
        for w in wanted:
            pos = text.find(w)
            while pos >= 0:
                line = bisect.bisect_right(offsets, pos) - 1
                self.read_segment(self.segment_of(line))
                nl = text.find("\n", pos)
                pos = text.find(w, nl) if nl >= 0 else -1


def _parse(text, path, default_priority, known_assignees, only, segmented=True, hint=None) -> Queue:
    lines, offsets = split_lines(text)
    newline = _newline(text)
    segments = None
    if only is not None and segmented:
        segments = _Segments.plan(text, lines, offsets, hint)
    if segments is None:
        kinds, items, headings, tables = _blocks(lines)
        outline = _Outline.of([h for h in headings if h.top], lines, kinds)
    else:
        kinds, items, tables = segments.kinds, segments.items, segments.tables
        outline = _Outline(segments.starts, segments.levels, segments.texts, lines, None)
    problems: list[Problem] = []
    item_starts = {it.line: it for it in items}
    if only is None:
        drafts = _drafts(outline, items, tables, lines, offsets, kinds, path, newline, item_starts, problems)
    else:
        # Only these IDs, with every task they depend on, directly or not: enough to judge
        # them exactly as a full parse would (duplicates, missing deps, cycles).
        wanted = set(only)
        while True:
            if segments is not None:
                segments.cover(wanted, text, offsets)
                item_starts.update((it.line, it) for it in items)
            problems.clear()
            drafts = _drafts(outline, items, tables, lines, offsets, kinds, path, newline, item_starts, problems,
                             wanted)
            more = {dep for d in drafts for dep in d.depends} - wanted
            if not more:
                break
            wanted |= more
    drafts.sort(key=lambda d: d.line)
    return _validate(drafts, problems, text, path, newline, default_priority, known_assignees, only is not None)


def _newline(text: str) -> str:
    if "\r" not in text:  # (found in C at once; counting goes a character at a time)
        return "\n"
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def _links(levels) -> tuple[list[int], list[int]]:
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


class _Outline:
    """The top-level headings of a text and what they imply for every line: the enclosing
    section and the priority in force (``context``), each heading's parent, and where each
    heading's block ends (before the next heading of the same or a higher level, ``next``:
    ``reach``; without the blank lines at its end: ``end``). ``kinds`` None: pass 1 has not read every
    line, which a text without fences or HTML blocks (_Segments) allows: a blank line is then
    one whose text is blank, and ``end`` reads the lines at the block's end.

    Made from the headings' lines, levels and texts (a segment plan's), with ``top``, the
    headings themselves, when pass 1 made them (a setext heading spans lines)."""

    __slots__ = ("top", "starts", "levels", "texts", "parents", "nexts", "lines", "kinds", "n", "_prios")

    def __init__(self, starts, levels, texts, lines, kinds, top=None, links=None, n=None):
        self.top, self.starts, self.levels, self.texts = top, starts, levels, texts
        self.lines, self.kinds = lines, kinds
        self.n = len(lines) if n is None else n  # the text's number of lines
        self.parents, self.nexts = links or _links(levels)
        self._prios: dict[int, str | None] = {}

    def reach(self, idx: int) -> int:
        """The last line of top heading ``idx``'s block."""
        j = self.nexts[idx]
        return self.starts[j] - 1 if j < len(self.starts) else self.n - 1

    @classmethod
    def of(cls, top: list[_Heading], lines, kinds) -> _Outline:
        return cls([h.start for h in top], [h.level for h in top], [h.text for h in top], lines, kinds, top)

    def heading(self, idx: int) -> _Heading:
        if self.top is not None:
            return self.top[idx]
        start = self.starts[idx]
        return _Heading(start, start, self.levels[idx], self.texts[idx], True)

    def priority(self, idx: int) -> str | None:
        """The priority in force under top heading ``idx`` (its own, or its nearest parent's)."""
        prio = self._prios.get(idx, False)
        if prio is False:
            parent = self.parents[idx]  # (at most 5 levels up)
            prio = self._prios[idx] = _priority_heading(self.texts[idx]) or (
                self.priority(parent) if parent >= 0 else None)
        return prio

    def end(self, idx: int) -> int:
        """The last line of top heading ``idx``'s block that is not blank (its own, at least)."""
        first, e, kinds = self.starts[idx] if self.top is None else self.top[idx].end, self.reach(idx), self.kinds
        if kinds is not None:
            while e > first and kinds[e] == BLANK:
                e -= 1
        else:
            lines = self.lines
            while e > first and not lines[e].lstrip(" \t"):
                e -= 1
        return e

    def context(self, line0: int):
        """(section, heading priority) of a task that is not a section, at 0-based ``line0``."""
        k = bisect.bisect_right(self.starts, line0) - 1
        if k < 0:
            return None, None
        return self.texts[k], self.priority(k)

    def section_context(self, idx: int):
        """(section, heading priority) of the section task of top heading ``idx``."""
        parent = self.parents[idx]
        return (self.texts[parent], self.priority(parent)) if parent >= 0 else (None, None)


def _drafts(outline: _Outline, items, tables, lines, offsets, kinds, path, newline, item_starts, problems,
            wanted: set | None = None, headings=None) -> list[_Draft]:
    """Pass 2: the tasks of the top headings (those of index in ``headings``, if given), list
    items and table rows; with ``wanted``, only tasks whose line mentions one of those IDs."""

    def hit(text: str) -> bool:
        return wanted is None or any(w in text for w in wanted)

    out: list[_Draft] = []
    for idx in range(len(outline.starts)) if headings is None else headings:
        h = outline.heading(idx)
        if not h.text or not h.text[0].isalpha() or not hit(h.text):
            continue
        d = _section_task(outline.section_context(idx), lines, offsets, kinds, h, outline.end(idx), path, newline,
                          item_starts)
        if d is None:
            lm = _LOOSE_ID.match(h.text)
            if lm and h.text[lm.end():lm.end() + 1] == ":" and not _priority_heading(h.text):
                problems.append(_bad_id(path, h.start + 1, lm.group(1)))
            continue
        out.append(d)
    context = outline.context
    for item in items:
        # Most items are neither tasks nor near misses (the fields of section tasks): one
        # cheap test first, of what both begin with.
        if (not _ITEM_WORD_RE.match(lines[item.line], item.content_start) or kinds[item.line] != ITEM
                or not hit(lines[item.line])):
            continue
        d = _list_task(context(item.line), lines, offsets, kinds, item, path, newline, item_starts)
        if d is None:
            content = lines[item.line][item.content_start:]
            cb = _CHECKBOX_RE.match(content)
            rest = content[cb.end():] if cb else content
            lm = _LOOSE_ID.match(rest)
            if lm and (cb or _looks_like_task_words(rest[lm.end():])):
                problems.append(_bad_id(path, item.line + 1, lm.group(1)))
            continue
        out.append(d)
    for table in tables:
        rows = table.rows if wanted is None else [r for r in table.rows if hit(lines[r])]
        if rows:
            out.extend(_table_tasks(table, rows, lines, offsets, context, path, problems))
    if wanted is not None:
        out = [d for d in out if d.id in wanted]
    return out


def reread(old: Queue, text: str) -> Queue | None:
    """The whole parse of ``text``, made from ``old`` (a whole parse of another text of the
    same file) by reading again only the segments (_Segments) that the difference touches.

    After a person's edit, cron's dispatcher would otherwise parse every task again (~15 ms
    per 1,000 tasks here): a fixed typo, a status word changed or a task appended touch one
    segment. The tasks of the other segments are taken from ``old``, those after the change
    with their lines and offsets moved; every check across tasks (duplicates, dependencies,
    cycles) is made again over all of them. More is read again when the change alters the
    headings around a task (its section or the priority it inherits), a section's block
    reaches into the change, or a kept problem's message quotes a line that moved. None when
    it cannot be done exactly: the file's BOM or newline style changed, either text has a line
    that defeats segments, or a segment does not read as planned. The property tests compare
    it with a fresh parse of the new text (tests/queue/test_reread.py).
    """
    got = reread_planned(old, text)
    return None if got is None else got[0]


def reread_planned(old: Queue, text: str, plan: tuple | None = None, kept_tasks=None) -> tuple[Queue, tuple] | None:
    """``reread``, given the segment plan of ``old.text`` when it is known (``plan``: the
    line, level, text and offset of every top-level heading of a text without lines that
    defeat segments, and its number of lines; robe.queue.cache keeps it beside the parse).
    Then only the changed lines are searched for such lines and scanned for headings, and
    only the lines read are split from the text, instead of the whole text. Returns (the
    parse, the plan of ``text``), or None.

    ``kept_tasks``: old's tasks (none of them rejected) as robe.queue.cache keeps them, by
    columns (a robe.queue.cache.KeptTasks); ``old.tasks`` is then not read, and the tasks kept
    are made into records once, after their move, instead of taken apart and made again.
    """
    if old.partial or text.startswith("\ufeff") != old.bom:
        return None
    if text == old.text:
        return (old, plan) if kept_tasks is None else None
    try:
        return without_gc(_reread, old, text, plan, kept_tasks)
    except _Unplanned:
        return None


def segment_plan(text: str) -> tuple | bool:
    """The plan of ``text``'s segments in the form robe.queue.cache keeps (_Segments.kept), or
    False when a line of it defeats segments."""
    lines, offsets = split_lines(text)
    plan = _Segments.plan(text, lines, offsets)
    return False if plan is None else plan.kept()


_CHUNK = 4096


def _common_prefix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` share from the start (compared in C, a chunk at a time)."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i:i + _CHUNK] == b[i:i + _CHUNK]:
        i += _CHUNK
    if i >= n:
        return n
    lo, hi = i, min(i + _CHUNK, n)  # a[:lo] == b[:lo]; they differ before hi (or end there)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[lo:mid + 1] == b[lo:mid + 1]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """How many characters ``a`` and ``b`` share at their ends, at most ``limit``."""
    na, nb = len(a), len(b)
    i = 0
    while i < limit:
        k = min(_CHUNK, limit - i)
        if a[na - i - k:na - i] != b[nb - i - k:nb - i]:
            break
        i += k
    else:
        return limit
    lo, hi = i, i + k - 1  # the last lo characters match; the last hi + 1 do not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[na - mid:na - lo] == b[nb - mid:nb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


_ID, _DEPENDS, _LINE = operator.itemgetter(0), operator.itemgetter(6), operator.itemgetter(9)


class _Change:
    """Where a new text differs from an old one, by lines: new lines c0..c1 replaced old lines
    c0..last0, and every later line moved by ``dl`` lines and ``dc`` characters."""

    __slots__ = ("c0", "c1", "last0", "dl", "dc", "start", "end1")

    def __init__(self, t0: str, text: str, plan: tuple | None = None):
        n0, n1 = len(t0), len(text)
        p = _common_prefix(t0, text)
        e0 = n0 - _common_suffix(t0, text, min(n0, n1) - p)
        e1 = e0 + n1 - n0  # the change: t0[p:e0] became text[p:e1]
        # Lines are counted from the last heading of t0's segment ``plan`` before the change.
        k = -1 if plan is None else bisect.bisect_right(plan[3], p) - 1
        line, start = (plan[0][k], plan[3][k]) if k >= 0 else (0, 0)
        self.c0 = line + text.count("\n", start, p)
        self.c1 = self.c0 + text.count("\n", p, e1)
        self.dl = self.c1 - self.c0 - t0.count("\n", p, e0)
        self.dc = n1 - n0
        self.last0 = self.c1 - self.dl
        self.start = text.rfind("\n", 0, p) + 1  # where line c0 starts, in both texts
        end1 = text.find("\n", e1)
        self.end1 = None if end1 < 0 else end1 + 1  # just past new line c1

    def new_line(self, line0: int) -> int | None:
        """The new 0-based line of old line ``line0``; None inside the change."""
        if line0 < self.c0:
            return line0
        return line0 + self.dl if line0 > self.last0 else None


def _reread(old: Queue, text: str, kept_plan: tuple | None, olds=None) -> tuple[Queue, tuple] | None:
    newline = _newline(text)
    if newline != old.newline:
        return None  # inserts written by the kept tasks use the newline style
    if kept_plan is None:
        kept_plan = segment_plan(old.text)
        if not kept_plan:
            return None  # the old text was read otherwise than in segments
    ch = _Change(old.text, text, kept_plan)
    # Only the lines read are split from the text: the changed ones now, the segments read
    # again when they are read (_Segments.fill).
    n = kept_plan[4] + ch.dl
    lines, offsets = [None] * n, [None] * n
    lines[ch.c0:ch.c1 + 1], offsets[ch.c0:ch.c1 + 1] = split_lines(text, ch.start, ch.end1)
    plan = _Segments.after_change(lines, offsets, kept_plan, ch, (text, offsets))
    if plan is None:
        return None
    outline = _Outline(plan.starts, plan.levels, plan.texts, lines, None, links=plan.links)
    if olds is None:
        from .cache import KeptTasks

        olds = KeptTasks.of(old.tasks if not old.rejected else sorted(old.tasks + old.rejected, key=_LINE))
    kept_problems = [q for q in old.problems if not _judged(q)]
    # The headings of the changed lines, old and new, as (level, text): when they are the same,
    # every kept task has the same headings above it (its section, its inherited priority).
    k0, k1 = bisect.bisect_left(plan.starts, ch.c0), bisect.bisect_right(plan.starts, ch.c1)
    new_heads = list(zip(plan.levels[k0:k1], plan.texts[k0:k1]))
    starts, levels, texts = kept_plan[:3]
    k0, k1 = bisect.bisect_left(starts, ch.c0), bisect.bisect_right(starts, ch.last0)
    old_outline = None
    if list(zip(levels[k0:k1], texts[k0:k1])) != new_heads:
        old_outline = _Outline(starts, levels, texts, None, None, links=kept_plan[5:] or None, n=kept_plan[4])
    dirty = _dirty_segments(ch, plan, outline, olds, kept_problems, old_outline)
    # The dirty segments as ranges of new lines; the tasks and problems outside them are kept.
    bounds = plan.bounds
    ranges = []
    for k in sorted(dirty):
        a, b = bounds[k], bounds[k + 1] if k + 1 < len(bounds) else len(lines)
        if ranges and ranges[-1][1] == a:
            ranges[-1][1] = b
        else:
            ranges.append([a, b])
    kept, dropped = _kept_tasks(olds, ranges, ch)
    problems = []
    for q in kept_problems:
        line = ch.new_line(q.line - 1)
        if line is None or any(a <= line < b for a, b in ranges):
            continue
        problems.append(q if line == q.line - 1 else q._replace(line=line + 1))
    # A kept task that was left out for its own problems still is; the checks across tasks
    # are made again below.
    bad: set[int] = set()
    if old.rejected:
        own = {}
        for q in problems:
            if q.severity == "error" and q.task_id:
                own.setdefault(q.task_id, []).append(q.line)
        for t in kept:
            if t[0] in own and any(t[9] <= ln <= t[10] for ln in own[t[0]]):
                bad.add(id(t))
    # The dirty segments read again.
    for k in sorted(dirty):
        plan.read_segment(k)
    starts = plan.starts
    skip = 0 if starts and starts[0] == 0 else 1  # segment k begins with top heading k - skip
    heads = [k - skip for k in sorted(dirty) if k >= skip]
    for idx in heads:  # a section's block may run on under deeper headings
        plan.fill(starts[idx], outline.reach(idx))
    item_starts = {it.line: it for it in plan.items}
    drafts = _drafts(outline, plan.items, plan.tables, lines, offsets, plan.kinds, old.path, newline, item_starts,
                     problems, None, heads)
    drafts.sort(key=lambda d: d.line)
    fresh, fresh_bad = _records(drafts, problems, old.default_priority)
    bad |= fresh_bad
    tasks = sorted(kept + fresh, key=_LINE)
    # The checks across tasks found nothing in the old text; when the tasks read again have
    # the IDs and Depends of those they replace, and none is left out, they find nothing now.
    clean = (not bad and not old.rejected and len(kept_problems) == len(old.problems)
             and sorted(dropped) == sorted(zip(map(_ID, fresh), map(_DEPENDS, fresh))))
    return (_judge(tasks, bad, problems, text, old.path, newline, old.default_priority, None,
                   all_ids=old.all_ids if clean else None), plan.kept())


def _dirty_segments(ch: _Change, plan: _Segments, outline: _Outline, olds, kept_problems,
                    old_outline: _Outline | None) -> set[int]:
    """The segments of the new text to read again: those holding the change, and those of the
    tasks the change may alter from afar. ``old_outline``: the old text's, when the changed
    lines' headings changed."""
    seg_of = plan.segment_of
    c0, c1 = ch.c0, ch.c1
    dirty = set(range(seg_of(c0), seg_of(c1) + 1))
    starts, texts = outline.starts, outline.texts
    # Section tasks whose block reaches the change, or touches it (a line after the block
    # decides how a new Status line is written). Other headings (a "## P0" over everything
    # below it) make no task, and their problems depend on their own text only. A block
    # reaches line c0 - 1 when the heading after it starts at c0 or later (in C: the few
    # headings that enclose the change out of all those before it).
    first_after = bisect.bisect_left(starts, c0)
    upto = bisect.bisect_right(starts, c1 + 1)
    for idx in compress(range(upto), map(first_after.__le__, outline.nexts[:upto])):
        if _ID_AT_START.match(texts[idx]):
            dirty.add(seg_of(starts[idx]))
    # Old tasks whose block reached the change, or touched it: the change may have cut them
    # short (a heading written under a list item ends it) or grown them.
    k = bisect.bisect_right(olds.lines, ch.last0 + 2)
    for line0 in [a - 1 for a, b in zip(olds.lines[:k], olds.ends[:k]) if b >= c0]:
        line = ch.new_line(line0)
        if line is not None:
            dirty.add(seg_of(line))
    if old_outline is not None:
        # Headings changed. The headings after the change keep their text and level, but may
        # now sit under others (a "## P1" written above them) or end elsewhere. The tasks
        # under a heading take the priority in force there; a section task takes its parent's
        # text and priority, and ends where the heading's block does: where any of these
        # changed, the heading's segment is read again. (Before the change, a heading's
        # parents are the same, and a task heading whose block reaches the change is dirty.)
        after = bisect.bisect_right(starts, c1)
        moved = after - bisect.bisect_right(old_outline.starts, ch.last0)  # new index - old index
        for idx in range(after, len(starts)):
            seg = seg_of(starts[idx])
            if seg in dirty:
                continue
            o = idx - moved
            if (outline.priority(idx) != old_outline.priority(o)
                    or outline.section_context(idx) != old_outline.section_context(o)
                    or outline.reach(idx) != ch.new_line(old_outline.reach(o))):
                dirty.add(seg)
    if ch.dl:
        for q in kept_problems:
            line = ch.new_line(q.line - 1)
            if q.code == "table" and line is not None:
                dirty.add(seg_of(line))  # its message quotes a line number
    return dirty


def _kept_tasks(olds, ranges, ch: _Change) -> tuple[list[Task], list[tuple]]:
    """The old tasks (in line order) that start outside the ``ranges`` of new lines read again,
    those after the change moved; and the (ID, Depends) of the others, the tasks read again."""
    c0, dl = ch.c0, ch.dl
    lines = olds.lines
    spans = []
    dropped = []
    ids, depends = olds.cols[0], olds.cols[6]
    pos = 0
    for a, b in ranges:  # in old lines: a range holding the change ends dl lines earlier there
        a0, b0 = (a, b if b <= c0 else b - dl) if a <= c0 else (a - dl, b - dl)
        i = bisect.bisect_left(lines, a0 + 1, pos)  # olds[i:] start on or after old line a0
        spans.append((pos, i))
        pos = bisect.bisect_left(lines, b0 + 1, i)
        dropped += zip(ids[i:pos], depends[i:pos])
    spans.append((pos, len(lines)))
    cut = bisect.bisect_left(lines, ch.last0 + 2) if dl or ch.dc else len(lines)  # [cut:] start after the change
    return olds.take(spans, cut, dl, ch.dc), dropped


def _looks_like_task_words(rest: str) -> bool:
    words = rest.replace(":", " ").split()[:2]
    return any(parse_priority(w.strip("*`[]()")) or w.strip("*`[]()").upper() in STATUS_WORDS for w in words)


def _bad_id(path, line, word):
    up = word.upper().replace("_", "-")
    hint = "IDs are upper-case letters, a dash and a number, such as TASK-001"
    if re.fullmatch(ID_PATTERN, up):
        hint = f"write it as {up}"
    return Problem(path, line, f"'{word}' is not a valid task ID", hint, code="id")


def _validate(drafts, problems, text, path, newline, default_priority, known_assignees, partial=False) -> Queue:
    tasks, bad = _records(drafts, problems, default_priority)
    return _judge(tasks, bad, problems, text, path, newline, default_priority, known_assignees, partial)


def _records(drafts, problems, default_priority) -> tuple[list[Task], set[int]]:
    """The drafts as Tasks, and the id() of those their own problems leave out; the drafts'
    problems go into ``problems``."""
    tasks = []
    bad: set[int] = set()
    pending = Status.PENDING
    # tuple.__new__ builds a record in C; Task(...) and Task._make would run Python code per task.
    new = tuple.__new__
    for d in drafts:
        task = new(Task, (d.id, d.priority or d.heading_priority or default_priority, d.status or pending, d.title,
                          d.body, d.assignee, d.depends, d.tags, tuple(d.fields), d.line, d.end_line, d.style,
                          d.section, d.priority is not None, d.status_span is not None,
                          new(Edit, (d.status_span, d.insert_at, d.insert_template, d.checkbox_span, d.cell_span))))
        tasks.append(task)
        if d.problems:
            if any(p.severity == "error" for p in d.problems):
                bad.add(id(task))
            problems.extend(d.problems)
    return tasks, bad


# The checks that look at the whole queue (_judge); the others concern one task or line each.
_JUDGED = frozenset({"duplicate", "assignee", "cycle"})
_MISSING = ", which is not in the queue"  # a "depends" problem of _judge's, not of a task's own


def _judged(p: Problem) -> bool:
    return p.code in _JUDGED or (p.code == "depends" and p.message.endswith(_MISSING))


def _judge(tasks: list[Task], bad: set[int], problems, text, path, newline, default_priority, known_assignees,
           partial=False, all_ids=None) -> Queue:
    """The checks across tasks (duplicate IDs, missing dependencies, cycles, unknown assignees)
    over ``tasks`` in line order, ``bad`` holding the id() of those already left out.
    ``all_ids``: the tasks' IDs, when the caller knows that these checks find nothing."""
    if all_ids is not None and known_assignees is None:
        problems.sort(key=lambda p: (p.line, p.code))
        return Queue(path, text, tuple(tasks), tuple(problems), text.startswith("\ufeff"), newline, all_ids, (),
                     partial, default_priority)
    ids = list(map(_ID, tasks))
    first = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1)))  # ID -> index of its first task
    all_ids = frozenset(first)
    if len(first) != len(ids):
        groups: dict[str, list[Task]] = {}
        for t in tasks:
            groups.setdefault(t[0], []).append(t)
        next_free = _next_free_id(all_ids)  # only a duplicate's hint needs it
        for tid, group in groups.items():
            if len(group) > 1:
                for t in group[1:]:
                    problems.append(Problem(path, t.line, f"{tid} is defined twice (first at line {group[0].line}); "
                                            "neither copy is used until one is renamed",
                                            f"give one of them a new ID, for example {next_free}", tid,
                                            code="duplicate"))
                bad.update(map(id, group))
    has_deps = any(map(_DEPENDS, tasks))
    for t in (tasks if has_deps or known_assignees is not None else ()):
        for dep in t.depends:
            if dep not in all_ids:
                problems.append(Problem(path, t.line, f"{t.id} depends on {dep}{_MISSING}",
                                        f"add {dep} or remove it from {t.id}'s Depends", t.id, code="depends"))
                bad.add(id(t))
        if known_assignees is not None and t.assignee and t.assignee not in known_assignees:
            problems.append(Problem(path, t.line, f"{t.id} is assigned to '{t.assignee}', which is not a wizard of this fleet",
                                    "known wizards: " + (", ".join(sorted(known_assignees)) or "none"), t.id,
                                    code="assignee"))
            bad.add(id(t))
    # Dependency cycles among tasks that are otherwise fine.
    graph = {t.id: t.depends for t in tasks if id(t) not in bad} if has_deps else {}
    for cycle in (_cycles(graph) if any(graph.values()) else ()):
        for tid in cycle:
            t = tasks[first[tid]]
            loop = " -> ".join(cycle[cycle.index(tid):] + cycle[:cycle.index(tid)] + [tid])
            problems.append(Problem(path, t.line, f"{tid} is part of a dependency cycle: {loop}",
                                    "remove one of these Depends so the chain has a start", tid, code="cycle"))
            bad.add(id(t))
    if bad:
        kept = tuple(t for t in tasks if id(t) not in bad)
        rejected = tuple(t for t in tasks if id(t) in bad)
    else:
        kept, rejected = tuple(tasks), ()
    problems.sort(key=lambda p: (p.line, p.code))
    return Queue(path, text, kept, tuple(problems), text.startswith("\ufeff"), newline, all_ids, rejected, partial,
                 default_priority)


def _cycles(graph: dict[str, tuple]) -> list[list[str]]:
    """Each dependency cycle once (Tarjan's strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    out.append(_order_cycle(comp, graph))
    return out


def _order_cycle(comp: list[str], graph) -> list[str]:
    """The members of a cycle in dependency order, starting from the smallest ID."""
    members = set(comp)
    start = min(comp)
    order = [start]
    cur = start
    while True:
        nxt = next((d for d in graph[cur] if d in members and d not in order), None)
        if nxt is None:
            break
        order.append(nxt)
        cur = nxt
    return order


def _next_free_id(ids, prefix: str | None = None) -> str:
    """The next unused ID with the file's most common prefix and number width."""
    counts: dict[str, int] = {}
    width = 3
    best = {}
    for tid in ids:
        p, _, num = tid.rpartition("-")
        counts[p] = counts.get(p, 0) + 1
        # The highest number; between equal numbers (T-7 and T-007) the wider writing, so the
        # answer never depends on the set's order.
        if (int(num), len(num)) > best.get(p, (-1, 0)):
            best[p] = (int(num), len(num))
    if prefix is None:
        prefix = max(counts, key=lambda p: (counts[p], p)) if counts else "TASK"
    top, w = best.get(prefix, (0, width))
    return f"{prefix}-{top + 1:0{w}d}"


next_free_id = _next_free_id
