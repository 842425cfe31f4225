"""Compare robe's line scanner with the mistune markdown parser.

mistune builds the real markdown tree but keeps no source offsets; the scanner keeps offsets.
This module asks mistune which headings, list items and table rows begin with a task ID and
reports every place where the two disagree. ``robe queue validate`` shows these as warnings;
the property tests require there be none.
"""

from __future__ import annotations

import re
from collections import Counter

import mistune

from .model import ID_PATTERN, Problem, Snapshot
from .scan import ID_AT_START

_CHECKBOX = re.compile(r"\[[ xX]\][ \t]+")
_KIND = {"section": "heading", "list": "list item", "table": "table row"}


def _markdown():
    return mistune.create_markdown(renderer=None, plugins=["table"])


def _inline_text(children) -> str:
    out = []
    for c in children or ():
        if "raw" in c:
            out.append(c["raw"])
        elif c.get("type") in ("softbreak", "linebreak"):  # a hard break (two spaces) is a line end too
            out.append("\n")
        elif "children" in c:
            out.append(_inline_text(c["children"]))
    return "".join(out)


def _first_id(text: str) -> str | None:
    m = ID_AT_START.match(text.lstrip())
    return m.group(1) if m else None


def _walk(tokens, out, in_list=False):
    for tok in tokens:
        kind = tok.get("type")
        if kind == "heading" and not in_list:
            tid = _first_id(_inline_text(tok.get("children")))
            if tid:
                out.append(("section", tid))
        elif kind == "list":
            for item in tok.get("children", ()):
                blocks = item.get("children", ())
                if blocks and blocks[0].get("type") in ("block_text", "paragraph"):
                    text = _inline_text(blocks[0].get("children")).split("\n", 1)[0]
                    m = _CHECKBOX.match(text)
                    tid = _first_id(text[m.end():] if m else text)
                    if tid:
                        out.append(("list", tid))
                _walk([b for b in blocks if b.get("type") == "list"], out, True)
        elif kind == "table" and not in_list:
            head = next((c for c in tok.get("children", ()) if c["type"] == "table_head"), None)
            body = next((c for c in tok.get("children", ()) if c["type"] == "table_body"), None)
            if head is None or body is None:
                continue
            names = [_inline_text(c.get("children")).strip().strip("*_` ").lower() for c in head["children"]]
            if "id" not in names or "status" not in names:
                continue
            col = names.index("id")
            for row in body.get("children", ()):
                cells = row.get("children", ())
                if col < len(cells):
                    raw = _inline_text(cells[col].get("children")).strip().strip("`*")
                    if re.fullmatch(ID_PATTERN, raw):
                        out.append(("table", raw))


def markdown_tasks(text: str) -> list[tuple[str, str]]:
    """(style, id) of every heading, list item and task-table row mistune sees starting with an ID."""
    out: list[tuple[str, str]] = []
    _walk(_markdown()(text.lstrip("\ufeff")), out)
    return out


def scanner_tasks(queue: Snapshot) -> list[tuple[str, str]]:
    every = sorted(list(queue.tasks) + list(queue.rejected), key=lambda t: t.line)
    return [(t.style, t.id) for t in every]


def disagreements(queue: Snapshot) -> list[Problem]:
    """Warnings for tasks that one parser sees and the other does not."""
    ours = Counter(scanner_tasks(queue))
    theirs = Counter(markdown_tasks(queue.text))
    problems = []
    lines = {t.id: t.line for t in list(queue.tasks) + list(queue.rejected)}
    for (style, tid), n in (ours - theirs).items():
        problems.append(Problem(queue.path, lines.get(tid, 1),
                                f"robe reads {tid} as a task ({_KIND[style]}), but a markdown renderer does not",
                                "check the markup around it: an unclosed code fence, HTML block or quote "
                                "above it, or indentation", tid, severity="warning", code="markdown"))
    for (style, tid), n in (theirs - ours).items():
        line = next((i + 1 for i, ln in enumerate(queue.text.split("\n")) if tid in ln), 1)
        problems.append(Problem(queue.path, line,
                                f"a markdown renderer shows {tid} as a {_KIND[style]} task, but robe does not read it",
                                "check the markup around it (indentation, a blank line before it)", tid,
                                severity="warning", code="markdown"))
    return problems
