"""Pass 1 of the scanner: the markdown block structure of a queue's lines, with offsets.

A markdown parser's tree (mistune's) says what is a heading, a list item, a table row or code,
but not where it stands in the text, and edits need exactly that. So this module follows
CommonMark's block rules, as mistune applies them, closely enough for a queue: fences, HTML
blocks, block quotes, indented code, lists and their lazy lines, GFM tables, ATX and setext
headings. ``robe.queue.crosscheck`` compares the scanner's verdicts with mistune's, in the
property tests and in ``robe queue validate``.

``read_blocks(lines)`` gives the kind of every line, the list items, the headings and the
tables; ``robe.queue.scan`` turns those that begin with a task ID into tasks.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import NamedTuple

# Line kinds.
BLANK, PARA, HEADING, SETEXT_RULE, ITEM, CODE, HTML, QUOTE, BREAK = range(9)
TABLE_HEAD, TABLE_DELIM, TABLE_ROW = 9, 10, 11

FENCE_RE = re.compile(r"(`{3,}|~{3,})(.*)")
ATX_RE = re.compile(r"(#{1,6})(?:[ \t]+|$)")
ATX_CLOSE_RE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
ITEM_RE = re.compile(r"([-+*]|[0-9]{1,9}[.)])([ \t]+|$)")
HTML1_RE = re.compile(r"<(script|pre|style|textarea)(?:[ \t>]|$)", re.I)
HTML6_RE = re.compile(
    r"</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|"
    r"details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|"
    r"head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|"
    r"option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)"
    r"(?:[ \t>]|/>|$)", re.I)
HTML7_RE = re.compile(
    r"(?:<[A-Za-z][A-Za-z0-9-]*(?:[ \t]+[A-Za-z_:][\w.:-]*(?:[ \t]*=[ \t]*(?:[^ \t\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*"
    r"[ \t]*/?>|</[A-Za-z][A-Za-z0-9-]*[ \t]*>)[ \t]*$")
#: First characters that may start a block other than paragraph text ("|": a table).
BLOCK_CHARS = frozenset("#>`~<*-_+=|0123456789")


class Item:
    """A list item: its line (0-based), marker column, content column, the index in the line
    where its content starts, its last line (set when the item closes), and how far a line that
    ends it may be indented."""

    __slots__ = ("line", "indent", "content_col", "content_start", "last", "lead")

    def __init__(self, line: int, indent: int, content_col: int, content_start: int, last: int, lead: int):
        self.line, self.indent, self.content_col = line, indent, content_col
        self.content_start, self.last, self.lead = content_start, last, lead


class Heading(NamedTuple):
    """A heading: first line (for setext, the paragraph's first line), last line (the
    underline for setext), level, text, and whether it is top-level (not in a list item or
    quote)."""

    start: int
    end: int
    level: int
    text: str
    top: bool


class Table(NamedTuple):
    """A table: header line, normalised and raw column names, row lines, whether its rows are
    ``| ... |``, the line of a row with the wrong number of cells (then markdown shows no
    table), and each pipe row's (start, end) inside its outer pipes."""

    head: int
    columns: list[str]
    raw_columns: list[str]
    rows: list[int]
    pipe: bool
    bad: int | None
    inner: dict[int, tuple[int, int]]


class Blocks(NamedTuple):
    """What pass 1 found: the kind of every line, the list items, headings and tables."""

    kinds: list[int]
    items: list[Item]
    headings: list[Heading]
    tables: list[Table]


def split_lines(text: str, first: int = 0, at: int = 0) -> tuple[list[str], list[int]]:
    """Lines without their ``\\n``/``\\r\\n`` ending, and the offset where each starts (line 0
    starts after a BOM). ``first``, ``at``: only the lines from line ``first`` on, which starts
    at offset ``at``; those above are empty, at offset 0."""
    start = at if first else 1 if text.startswith("\ufeff") else 0
    lines = text[start:].split("\n")
    offsets = [a + i for i, a in enumerate(accumulate(map(len, lines), initial=start))][:len(lines)]
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if first:
        return [""] * first + lines, [0] * first + offsets
    return lines, offsets


def newline_of(text: str) -> str:
    """``"\\r\\n"`` when most lines end that way, else ``"\\n"``."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def indent_of(s: str) -> tuple[int, int]:
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


# --- tables ----------------------------------------------------------------------------------


def pipe_inner(s: str) -> tuple[int, int] | None:
    """The (start, end) of a pipe-table row's inside, between its outer pipes, or None."""
    text = s.rstrip(" \t")
    lead = 0 if text.startswith("|") else len(text) - len(text.lstrip(" "))
    if not text.startswith("|", lead) or not text.endswith("|") or len(text) - lead < 2:
        return None
    return lead + 1, len(text) - 1


def split_cells(s: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the cells of ``s[start:end]``, split at pipes not escaped by a backslash."""
    end = len(s) if end is None else end
    if s.find("\\", start, end) < 0:  # no backslash: every pipe splits
        spans, a = [], start
        for cell in s[start:end].split("|"):
            spans.append((a, a + len(cell)))
            a += len(cell) + 1
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
        inner = pipe_inner(s)
        return split_cells(s, *inner) if inner else []
    return split_cells(s, 0, len(s.rstrip(" \t")))


def _is_align(cell: str) -> bool:
    """A delimiter row's cell (stripped): ``---``, ``:--``, ``--:`` or ``:-:``."""
    core = cell[1:] if cell.startswith(":") else cell
    core = core[:-1] if core.endswith(":") else core
    return bool(core) and not core.strip("-")


def _pipe_paragraph(lines: list[str], j: int) -> int:
    """Where the paragraph mistune makes of a broken pipe table ends: at the first non-row."""
    while j < len(lines) and pipe_inner(lines[j]) is not None:
        j += 1
    return j


def table_at(lines: list[str], i: int):
    """The table whose header is line ``i``, read as mistune's table plugin reads it.

    None when there is none; else (end, pipe, bad, inner): ``end`` is the line after its last
    row, ``pipe`` whether rows are ``| ... |``, ``bad`` the line of a row whose cell count
    differs from the header's (or None: mistune renders such a pipe table as a paragraph),
    ``inner`` each pipe row's span inside its outer pipes.
    """
    if i + 1 >= len(lines):
        return None
    head, delim = lines[i], lines[i + 1]
    for pipe in (True, False):
        if pipe and (pipe_inner(head) is None or pipe_inner(delim) is None):
            continue
        if not pipe and ("|" not in delim or not delim.strip(" \t")):
            return None
        cells, aligns = row_cells(head, pipe), row_cells(delim, pipe)
        if len(cells) != len(aligns) or not all(
                _is_align(delim[a:b].strip()) or not delim[a:b].strip() for a, b in aligns):
            return (_pipe_paragraph(lines, i + 2), pipe, i + 1, None) if pipe else None
        j = i + 2
        inners = []
        while j < len(lines):
            line = lines[j]
            if pipe:
                inner = pipe_inner(line)
                if inner is None:
                    break
                count = (line.count("|", *inner) + 1 if line.find("\\", *inner) < 0
                         else len(split_cells(line, *inner)))
                inners.append(inner)
            elif "|" not in line or not line.strip(" \t"):
                break
            else:
                count = len(row_cells(line, pipe))
            if count != len(cells):
                return (_pipe_paragraph(lines, j + 1), pipe, j, None) if pipe else None
            j += 1
        return j, pipe, None, inners
    return None


# --- what a line starts --------------------------------------------------------------------


def is_break(t: str) -> bool:
    """A thematic break: three or more of one of - * _, with only spaces or tabs between."""
    if t[0] not in "-*_" or t.strip("-*_ \t"):
        return False
    core = t.replace(" ", "").replace("\t", "")
    return len(core) >= 3 and not core.strip(t[0])


def _opens_fence(t: str):
    m = FENCE_RE.match(t)
    return m if m and not (t[0] == "`" and "`" in m.group(2)) else None


def _html_end(t: str, in_para: bool) -> str | None:
    """How an HTML block that line ``t`` starts ends: a closing string, "" (a blank line),
    "done" (it ends on this line), or None when ``t`` starts none."""
    m = HTML1_RE.match(t)
    if m:
        return "</" + m.group(1).lower() + ">"
    if t.startswith("<!--"):
        return "done" if "-->" in t[4:] else "-->"
    if t.startswith("<?"):
        return "?>"
    if t.startswith("<![CDATA["):
        return "]]>"
    if t.startswith("<!") and len(t) > 2 and t[2].isalpha():
        return ">"
    if HTML6_RE.match(t) or (not in_para and HTML7_RE.match(t)):
        return ""
    return None


def _starts_html(t: str, with_type7: bool) -> bool:
    return bool(HTML1_RE.match(t) or t.startswith(("<!--", "<?", "<![CDATA[")) or HTML6_RE.match(t)
                or (with_type7 and HTML7_RE.match(t)) or (t.startswith("<!") and len(t) > 2 and t[2].isalpha()))


def can_interrupt_paragraph(t: str) -> bool:
    """Whether the de-indented line ``t`` starts a block that ends an open paragraph."""
    c = t[0]
    if c in "-+*" and t[1:2] in (" ", "\t") and t[2:].strip(" \t"):
        return True  # a bullet item with content (or a thematic break): both interrupt
    if c == "#":
        return bool(ATX_RE.match(t))
    if c == ">":
        return True
    if c in "`~":
        return bool(_opens_fence(t))
    if c == "<":
        return _starts_html(t, with_type7=False)
    if is_break(t):
        return True
    m = ITEM_RE.match(t)
    if m:
        if not t[m.end():].strip():
            return False  # an empty item cannot interrupt a paragraph
        return m.group(1) in "-+*" or m.group(1)[:-1] == "1"
    return False


def ends_quote(t: str) -> bool:
    """Whether a line without ">" ends a block quote instead of continuing it lazily."""
    if is_break(t) or (t[0] in "`~" and FENCE_RE.match(t)) or ITEM_RE.match(t):
        return True
    return t[0] == "<" and _starts_html(t, with_type7=True)


def ends_list_item(t: str) -> bool:
    """Whether a line indented less than an open list item's content ends that item."""
    c = t[0]
    if c in "-+*" and t[1:2] in (" ", "\t"):
        return True  # another item, or a thematic break
    if c == "#":
        return bool(ATX_RE.match(t))
    return c == ">" or ends_quote(t)


def atx_text(t: str, m: re.Match) -> str:
    """The text of the ATX heading line ``t`` (de-indented) that ``ATX_RE`` matched as ``m``."""
    raw = t[m.end():]
    if not raw.strip():
        return ""
    if raw.rstrip(" \t").endswith("#"):  # a closing sequence only if it ends in #
        raw = ATX_CLOSE_RE.sub("", raw)
    return raw.strip()


# --- the reader --------------------------------------------------------------------------------


class _Reader:
    """Reads the lines once, top to bottom, keeping the state of the open blocks."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.out = Blocks([BLANK] * len(lines), [], [], [])
        self.stack: list[Item] = []  # open list items, innermost last
        self.fence = None  # (char, length, base column) of an open fence
        self.html_end: str | None = None  # "" = ends at a blank line; else a substring that ends it
        self.in_para = False
        self.para_start = 0
        self.prev_blank = True
        self.in_quote = False
        self.quote_lazy = False  # may the next non-">" line continue the quote?
        self.skip_to = -1  # lines up to here belong to a table read whole
        self.last_nb = self.nb_before = -1

    def read(self, first: int = 0) -> Blocks:
        lines = self.lines
        for i in range(first, len(lines)):
            if i > self.skip_to:
                self.kind(i, lines[i])
        for item in self.stack:
            item.last = self.last_nb
        return self.out

    def kind(self, i: int, s: str) -> None:
        t = s.lstrip(" \t")
        pos = len(s) - len(t)
        col = pos if "\t" not in s[:pos] else indent_of(s)[0]
        if t:
            # A list item closed at this line ends at the last non-blank line before it.
            self.nb_before, self.last_nb = self.last_nb, i
        kinds = self.out.kinds
        if self.fence is not None and self.in_fence(t, col):
            kinds[i] = CODE
        elif self.html_end is not None and self.in_html(s):
            kinds[i] = HTML
        elif not t:
            kinds[i] = BLANK
            self.in_para = self.in_quote = self.quote_lazy = False
            self.prev_blank = True
        elif self.in_para and not self.stack and not self.in_quote and col < 4 and t[0] not in BLOCK_CHARS \
                and "|" not in t:
            kinds[i] = PARA  # the commonest line: more text of a top-level paragraph
            self.prev_blank = False
        elif self.lazy_quote(t, col):
            kinds[i] = QUOTE
        elif self.lazy_item(t, col):
            kinds[i] = PARA
        else:
            self.block(i, s, t, pos, col)

    # -- lines inside an open block
    def in_fence(self, t: str, col: int) -> bool:
        char, length, base = self.fence
        if t and col < base:
            self.fence = None  # the container holding the fence ended
            return False
        if t.startswith(char * length) and not t.strip(char).strip() and col - base < 4:
            self.fence = None
        return True

    def in_html(self, s: str) -> bool:
        if self.html_end == "":
            if not s.strip():
                self.html_end = None
                return False
            return True
        if self.html_end in s.lower():
            self.html_end = None
        return True

    def lazy_quote(self, t: str, col: int) -> bool:
        # mistune: a line continues a quote lazily unless the quote's last line was blank, or
        # the quote began with code, or the line starts a break, fence, list item or HTML block.
        if not self.in_quote or t[0] == ">":
            return False
        if self.quote_lazy and (col > 3 or not ends_quote(t)):
            return True
        self.in_quote = self.quote_lazy = False
        return False

    def lazy_item(self, t: str, col: int) -> bool:
        stack = self.stack
        if not stack or col >= stack[-1].content_col:
            return False
        if not self.prev_blank and (col > stack[-1].lead or not ends_list_item(t)):
            # mistune: a list item takes any following line lazily unless a blank line came
            # first or the line starts a rule, fence, heading, quote, HTML block or another
            # item (even with no paragraph open), indented no more than the item's marker.
            return True
        while stack and col < stack[-1].content_col:
            stack.pop().last = self.nb_before
        self.in_para = False
        return False

    # -- a line that starts a block
    def block(self, i: int, s: str, t: str, pos: int, col: int) -> None:
        base = self.stack[-1].content_col if self.stack else 0
        was_blank, self.prev_blank = self.prev_blank, False
        kinds, c = self.out.kinds, t[0]
        if col - base >= 4:
            kinds[i] = PARA if self.in_para else CODE
        elif c == ">":
            kinds[i] = QUOTE
            self.open_quote(t)
        elif c in "`~" and self.open_fence(t, col):
            kinds[i] = CODE
        elif c == "<" and self.open_html(t):
            kinds[i] = HTML
        elif c == "#" and self.atx(i, t):
            kinds[i] = HEADING
        elif self.in_para and c in "=-" and not t.rstrip(" \t").strip(c):
            self.setext(i, c)
        elif is_break(t):
            kinds[i] = BREAK
            self.in_para = False
        elif not self.item(i, t, pos, col, base, was_blank) and not ("|" in t and not self.stack and self.table(i, s)):
            kinds[i] = PARA
            if not self.in_para:
                self.in_para, self.para_start = True, i

    def open_quote(self, t: str) -> None:
        inner = t[2:] if t[1:2] == " " else t[1:]
        if not self.in_quote:
            stripped = inner.lstrip(" ")
            self.marker_only = not stripped or len(inner) - len(stripped) >= 4 or bool(FENCE_RE.match(stripped))
        self.in_quote = True
        self.quote_lazy = not self.marker_only and bool(inner.strip())
        self.in_para = False

    marker_only = False  # the quote began with code: only ">" lines continue it

    def open_fence(self, t: str, col: int) -> bool:
        m = _opens_fence(t)
        if m:
            self.fence = (t[0], len(m.group(1)), col)
            self.in_para = False
        return bool(m)

    def open_html(self, t: str) -> bool:
        end = _html_end(t, self.in_para)
        if end is None:
            return False
        self.in_para = False
        if end == "":
            self.html_end = ""
        elif end != "done" and (end not in t.lower() or end == "-->"):
            self.html_end = end
        return True

    def atx(self, i: int, t: str) -> bool:
        m = ATX_RE.match(t)
        if m:
            self.out.headings.append(Heading(i, i, len(m.group(1)), atx_text(t, m), not self.stack and not self.in_quote))
            self.in_para = False
        return bool(m)

    def setext(self, i: int, c: str) -> None:
        kinds = self.out.kinds
        kinds[i] = SETEXT_RULE
        for j in range(self.para_start, i):
            kinds[j] = HEADING
        text = " ".join(self.lines[j].strip() for j in range(self.para_start, i))
        self.out.headings.append(Heading(self.para_start, i, 1 if c == "=" else 2, text, not self.stack))
        self.in_para = False

    def item(self, i: int, t: str, pos: int, col: int, base: int, was_blank: bool) -> bool:
        m = ITEM_RE.match(t)
        if not m or (self.in_para and not was_blank and not can_interrupt_paragraph(t)):
            return False
        self.out.kinds[i] = ITEM
        marker, spaces = m.group(1), m.group(2)
        marker_end = col + len(marker)
        if not t[m.end():].strip():
            content_col, start = marker_end + 1, pos + len(marker) + min(1, len(spaces))
        else:
            width = len(spaces) if "\t" not in spaces else indent_of(" " * marker_end + spaces)[0] - marker_end
            if width > 4:
                content_col, start = marker_end + 1, pos + len(marker) + 1
            else:
                content_col, start = marker_end + width, pos + m.end()
        # mistune: the marker's indent plus its width, at most 3, within the container
        item = Item(i, col, content_col, start, i, base + min(marker_end - base, 3))
        self.out.items.append(item)
        self.stack.append(item)
        self.in_para, self.para_start = True, i
        return True

    def table(self, i: int, s: str) -> bool:
        found = table_at(self.lines, i)  # (mistune reads no tables inside list items)
        if found is None:
            return False
        end, pipe, bad, inner = found
        cells = [s[a:b].strip() for a, b in row_cells(s, pipe)]
        rows = list(range(i + 2, end))
        self.out.tables.append(Table(i, [c.strip("*_` ").lower() for c in cells], cells, rows, pipe, bad,
                                     dict(zip(rows, inner)) if inner else {}))
        kinds = self.out.kinds
        kinds[i:end] = [TABLE_ROW if bad is None else PARA] * (end - i)
        if bad is None:
            kinds[i], kinds[i + 1] = TABLE_HEAD, TABLE_DELIM
            self.in_para = False
        elif not self.in_para:
            self.in_para, self.para_start = True, i
        self.last_nb = self.skip_to = end - 1
        return True


def read_blocks(lines: list[str], first: int = 0) -> Blocks:
    """Pass 1: the kind of each line, the list items, the headings and the tables.

    ``first``: read from this line on, as if the text began there (lines above are BLANK). The
    result is the whole text's from there only when line ``first`` is a top-level ATX heading
    of the whole text's pass 1: such a line closes every open block, and nothing above it
    looks past it (``robe.queue.scan.reparse``)."""
    return _Reader(lines).read(first)
