"""A partial parse reads only the segments that hold its tasks, and judges them as a whole parse does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from robe.queue import parse, scan

from .strategies import document
from .test_properties import SETTINGS

PLAIN = """\ufeff# Work queue

Intro text.

## P0 — Critical

### TASK-001: first
- Status: PENDING
- Depends: TASK-009

Body.

- [ ] TASK-002 P1 PENDING a list task
  - Assignee: ezra
- [x] TASK-003 COMPLETE done

### TASK-004: no status written
### TASK-005: the next heading at once

## TASK-006: a section with deeper headings
- Status: BLOCKED

### Notes
Still TASK-006's body.

### More notes
- not a task

| ID | Status | Task |
|----|--------|------|
| TASK-007 | PENDING | a row |
| TASK-001 | PENDING | a duplicate of TASK-001 |

## P2

### TASK-009: far away
- Status: COMPLETE
"""


def _plan(text):
    lines, offsets = scan.split_lines(text)
    return scan._Segments.plan(text, lines, offsets)


def _same_verdicts(text):
    full = parse(text)
    for task in list(full.tasks) + list(full.rejected):
        part = parse(text, only={task.id})
        assert part.partial
        assert part.get(task.id) == full.get(task.id), task.id
        assert (task.id in {t.id for t in part.rejected}) == (task.id in {t.id for t in full.rejected}), task.id


def test_a_plain_queue_is_read_in_segments_and_judged_as_a_whole_parse_judges_it():
    assert _plan(PLAIN) is not None
    _same_verdicts(PLAIN)
    _same_verdicts(PLAIN.replace("\n", "\r\n"))
    full = parse(PLAIN)
    assert full.get("TASK-001") is None and full.get("TASK-006").body.startswith("### Notes")
    assert full.get("TASK-004").edit.insert_template.endswith("\n\n")  # a gap before the next heading


def test_only_the_segments_of_the_wanted_tasks_are_read(monkeypatch):
    text = "\n".join(f"## TASK-{i:03d}: t\n- Status: PENDING\n\nbody {i}\n" for i in range(1, 200))
    read = []
    real = scan._Segments.read_segment
    monkeypatch.setattr(scan._Segments, "read_segment", lambda self, k: (read.append(k), real(self, k)))
    part = parse(text, only={"TASK-150"})
    assert part.get("TASK-150") == parse(text).get("TASK-150")
    assert 1 <= len(set(read)) <= 2


def test_lines_that_defeat_segments_make_a_whole_pass():
    for line in ("```", "~~~", "> quote", "<div>", "Title\n===", "  # indented", "# a | b", "para\n---"):
        assert _plan(PLAIN + line + "\n") is None, line
    assert _plan(PLAIN + "- - -\n***\n") is not None  # thematic breaks stay inside a segment


def test_a_segment_that_reads_unexpectedly_falls_back_to_the_whole_text(monkeypatch):
    def unplanned(self, k):
        raise scan._Unplanned

    monkeypatch.setattr(scan._Segments, "read_segment", unplanned)
    assert parse(PLAIN, only={"TASK-002"}).get("TASK-002") == parse(PLAIN).get("TASK-002")


@SETTINGS
@given(document(opaque=False), st.booleans())
def test_partial_parses_of_documents_without_long_range_blocks(text, tight):
    if tight:
        text = text.replace("\n\n", "\n")
    _same_verdicts(text)


@SETTINGS
@given(st.lists(st.sampled_from(["", "a", "# h", "\r", "x\r", "\ufeff", "é"]), max_size=8),
       st.sampled_from(["", "\ufeff"]))
def test_split_lines_gives_each_line_and_where_it_starts(parts, bom):
    text = bom + "\n".join(parts)
    lines, offsets = scan.split_lines(text)
    raw = text.split("\n")
    assert len(lines) == len(offsets) == len(raw)
    for i, (line, start) in enumerate(zip(lines, offsets)):
        whole = raw[i][1:] if i == 0 and raw[0].startswith("\ufeff") else raw[i]
        assert line == (whole[:-1] if whole.endswith("\r") else whole)
        assert text[start:start + len(whole)] == whole
