"""A status robe cannot read is never taken for PENDING; odd but readable forms are read; a line
that looks like a field robe does not understand, or an ID holding an invisible character,
is an error with its file:line, and that task is not dispatched."""

from __future__ import annotations

import pytest

from robe.queue import Status, apply_changes, parse
from robe.queue.edits import Change

HEAD = "## P1\n\n### TASK-1: first\n"


@pytest.mark.parametrize("line", [
    "- Status:\u00a0BLOCKED",           # a no-break space after the colon
    "- Status:\u2003BLOCKED",           # an em space
    "- Status:\tBLOCKED\u00a0",         # a no-break space at the end
    "**Status: BLOCKED**",              # the whole line bold
    "- **Status: BLOCKED**",
    "- Status\uff1aBLOCKED",            # a full-width colon
    "- Status\uff1a BLOCKED",
    "Status: BLOCKED",
])
def test_odd_but_readable_status_lines_are_read(line):
    text = HEAD + line + "\n\nbody\n"
    q = parse(text)
    assert q.errors == (), q.problems
    task = q.get("TASK-1")
    assert task.status is Status.BLOCKED and task.status_written
    # robe writes the word in place, not a second Status line above the person's.
    new, (out,) = apply_changes(q, [Change("TASK-1", Status.PENDING)])
    assert out.applied and new.count("Status") == 1
    assert new == text.replace("BLOCKED", "PENDING")


@pytest.mark.parametrize("line", [
    "- Status BLOCKED",            # no colon
    "- Status = BLOCKED",
    "- Stauts: BLOCKED",           # a typo one edit away from Status
    "- Satus: BLOCKED",
    "- status - BLOCKED",
    "**Status** BLOCKED",
])
def test_a_line_that_looks_like_a_status_but_is_not_understood_is_an_error(line):
    text = HEAD + line + "\n\nbody\n"
    q = parse(text, "Q.md")
    assert q.get("TASK-1") is None, "a task whose status robe cannot read must not be dispatched"
    (p,) = [p for p in q.errors if p.task_id == "TASK-1"]
    assert p.line == 4 and "Status" in p.message and p.hint
    assert str(p).startswith("Q.md:4: error:")


def test_body_text_that_mentions_a_status_is_body():
    text = HEAD + "- Status: PENDING\n\nStatus of the migration: unclear, see the notes.\n"
    q = parse(text)
    assert q.errors == () and q.get("TASK-1").status is Status.PENDING


@pytest.mark.parametrize("zw", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])
@pytest.mark.parametrize("where", ["heading", "item", "row"])
def test_an_invisible_character_in_an_id_is_an_error(zw, where):
    tid = f"TASK-{zw}7" if zw != "\ufeff" else f"TASK{zw}-7"
    text = {"heading": f"### {tid}: a task\n- Status: PENDING\n",
            "item": f"- [ ] {tid} PENDING a task\n",
            "row": f"| ID | Status | Task |\n|----|--------|------|\n| {tid} | PENDING | a task |\n"}[where]
    q = parse("# Q\n\n" + text, "Q.md")
    assert q.tasks == ()
    errors = [p for p in q.errors if "invisible" in p.message]
    assert errors and errors[0].line >= 3 and f"U+{ord(zw):04X}" in errors[0].message


def test_a_very_long_id_is_an_error_not_a_task():
    tid = "TASK-" + "1" * 300
    q = parse(f"- [ ] {tid} PENDING too long\n- [ ] TASK-2 PENDING fine\n", "Q.md")
    assert [t.id for t in q.tasks] == ["TASK-2"]
    assert any(p.code == "id" and "characters long" in p.message for p in q.errors)
