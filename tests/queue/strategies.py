"""Hypothesis strategies that write whole WORK-QUEUE.md documents.

Documents mix the three task styles with the things that must not count as tasks (fenced
code, HTML comments, block quotes, indented code), in LF or CRLF, with or without a BOM,
with unicode, tabs and trailing spaces.
"""

from __future__ import annotations

from hypothesis import strategies as st

WORDS = ["wire", "the", "gateway", "digest", "Nostr", "logs", "rotate", "café", "Über", "漢字", "naïve",
         "résumé", "ßeta", "nightly", "backup", "Ezra", "allegro", "ñandú", "data", "check", "2026", "v0.19"]
STATUSES = ["PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "BLOCKED"]
PRIORITIES = ["P0", "P1", "P2", "P3"]


def words(min_size=1, max_size=5):
    return st.lists(st.sampled_from(WORDS), min_size=min_size, max_size=max_size).map(" ".join)


@st.composite
def task_id(draw):
    return draw(st.sampled_from(["TASK", "BUG", "OPS", "T2"])) + "-" + str(draw(st.integers(0, 999))).zfill(
        draw(st.sampled_from([1, 3])))


def trailing(draw):
    return draw(st.sampled_from(["", "", "", " ", "  ", "\t"]))


@st.composite
def section_task(draw):
    level = draw(st.integers(2, 4))
    sep = draw(st.sampled_from([": ", " — ", " - ", " "]))
    lines = ["#" * level + " " + draw(task_id()) + sep + draw(words()) + trailing(draw)]
    fields = []
    if draw(st.booleans()):
        fields.append(("Priority", draw(st.sampled_from(PRIORITIES + ["p1"]))))
    if draw(st.booleans()):
        fields.append(("Status", draw(st.sampled_from(STATUSES + ["pending", "Complete"]))))
    if draw(st.booleans()):
        fields.append(("Assignee", draw(st.sampled_from(["ezra", "allegro", "allegro-primus"]))))
    if draw(st.booleans()):
        fields.append(("Tags", draw(words(1, 3)).replace(" ", ", ")))
    if draw(st.booleans()):
        fields.append(("Notes", draw(words())))
    bold = draw(st.sampled_from(["", "**"]))
    marker = draw(st.sampled_from(["-", "*"]))
    for k, v in draw(st.permutations(fields)):
        key = k if draw(st.booleans()) else k.lower()
        lines.append(f"{marker} {bold}{key}:{bold} {v}{trailing(draw)}")
    if draw(st.booleans()):
        lines.append("")
        lines.append(draw(words(2, 8)) + trailing(draw))
        if draw(st.booleans()):
            lines.append(draw(words(2, 8)))
    return lines


@st.composite
def list_block(draw):
    marker = draw(st.sampled_from(["-", "*", "+", "1."]))
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        box = draw(st.sampled_from(["", "[ ] ", "[x] "]))
        if draw(st.integers(0, 3)):
            parts = [draw(task_id())]
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(PRIORITIES)))
            if draw(st.booleans()):
                parts.append(draw(st.sampled_from(STATUSES + ["**PENDING**", "`COMPLETE`", "(FAILED)"])))
            parts.append(draw(words()))
            text = " ".join(parts)
        else:
            text = draw(words())
        lines.append(f"{marker} {box}{text}{trailing(draw)}")
        pad = " " * (len(marker) + 1)
        if draw(st.booleans()):
            lines.append(pad + draw(words(2, 6)))
        if draw(st.booleans()):
            lines.append(pad + "- Assignee: " + draw(st.sampled_from(["ezra", "allegro"])))
    return lines


@st.composite
def table_block(draw):
    cols = draw(st.permutations(["ID", "Status", "Task"] + draw(st.sets(st.sampled_from(["Priority", "Assignee", "Notes"])).map(sorted))))
    cols = list(cols)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _ in range(draw(st.integers(1, 4))):
        cells = []
        for c in cols:
            if c == "ID":
                cells.append(draw(task_id()))
            elif c == "Status":
                cells.append(draw(st.sampled_from(STATUSES + [""])))
            elif c == "Priority":
                cells.append(draw(st.sampled_from(PRIORITIES + [""])))
            else:
                cells.append(draw(words()))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


@st.composite
def fake_task_line(draw):
    return draw(st.sampled_from([
        "### " + draw(task_id()) + ": " + draw(words()),
        "- [ ] " + draw(task_id()) + " P0 PENDING " + draw(words()),
        "| " + draw(task_id()) + " | PENDING | " + draw(words()) + " |",
    ]))


@st.composite
def opaque_block(draw):
    """Blocks whose task-looking lines are not tasks."""
    kind = draw(st.sampled_from(["fence", "tilde", "comment", "quote", "indented"]))
    inner = draw(st.lists(fake_task_line(), min_size=1, max_size=3))
    if kind == "fence":
        return ["```" + draw(st.sampled_from(["", "markdown", "md"]))] + inner + ["```"]
    if kind == "tilde":
        return ["~~~~"] + inner + ["~~~~"]
    if kind == "comment":
        return ["<!--"] + inner + ["-->"]
    if kind == "quote":
        return ["> " + line for line in inner]
    return ["    " + line for line in inner]


@st.composite
def plain_block(draw):
    kind = draw(st.sampled_from(["para", "heading", "priority", "rule"]))
    if kind == "para":
        return [draw(words(2, 10)) + trailing(draw) for _ in range(draw(st.integers(1, 3)))]
    if kind == "heading":
        return ["#" * draw(st.integers(1, 3)) + " " + draw(words())]
    if kind == "priority":
        return ["## " + draw(st.sampled_from(PRIORITIES)) + draw(st.sampled_from(["", " — Critical", ": later"]))]
    return ["---"]


@st.composite
def document(draw, opaque=True, tight=False):
    kinds = [section_task(), list_block(), table_block(), plain_block()]
    if opaque:
        kinds.append(opaque_block())
    blocks = draw(st.lists(st.one_of(*kinds), min_size=0, max_size=8))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for b in blocks:
        lines.extend(b)
        # Tight documents sometimes run blocks together, where lazy continuation and
        # "what may interrupt a paragraph" decide the structure.
        if not tight or draw(st.booleans()):
            lines.append("")
    text = nl.join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no newline at the end of the file
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text
