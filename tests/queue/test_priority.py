"""The surgical priority edit: only the priority word changes (or one is written where none
was), in the three task styles, through the one locked writer with its preconditions."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robe.queue import ConflictError, QueueError, Status, load, parse, priority_text, set_priority, set_status
from robe.queue.api import Queue

from ..support import read
from .strategies import PRIORITIES, document
from .test_properties import SETTINGS


def edit(doc: str, priority: str, task_id: str = "TASK-1") -> str:
    q = parse(doc)
    return priority_text(q, q.get(task_id), priority)


@pytest.mark.parametrize("doc, expected", [
    # sections: the field's word, in whatever style the field is written
    ("### TASK-1: a\n- Priority: P1\n- Status: PENDING\n", "### TASK-1: a\n- Priority: P0\n- Status: PENDING\n"),
    ("### TASK-1: a\n- **Priority:** `p2` (soon)\n", "### TASK-1: a\n- **Priority:** `P0` (soon)\n"),
    # lists: the word after the ID, wrapped or not, before or after the status
    ("- [ ] TASK-1 P1 PENDING a\n", "- [ ] TASK-1 P0 PENDING a\n"),
    ("- [x] TASK-1 COMPLETE **P3** a\n", "- [x] TASK-1 COMPLETE **P0** a\n"),
    # a field under a list item wins over the word on it (as the scanner reads it)
    ("- TASK-1 P2 a\n  - Priority: P3\n", "- TASK-1 P2 a\n  - Priority: P0\n"),
    # tables: the cell, columns kept aligned
    ("| ID | Priority | Status |\n|---|---|---|\n| TASK-1 | P1 | PENDING |\n",
     "| ID | Priority | Status |\n|---|---|---|\n| TASK-1 | P0 | PENDING |\n"),
])
def test_the_priority_word_is_the_only_change(doc, expected):
    assert edit(doc, "P0") == expected


@pytest.mark.parametrize("doc, expected", [
    # a field line before the first field, in its style
    ("### TASK-1: a\n* **Status:** PENDING\n\nbody\n", "### TASK-1: a\n* **Priority:** P0\n* **Status:** PENDING\n\nbody\n"),
    # no fields: right under the heading, a blank line keeping the body apart
    ("### TASK-1: a\nbody\n", "### TASK-1: a\n- Priority: P0\n\nbody\n"),
    ("### TASK-1: a", "### TASK-1: a\n- Priority: P0\n"),
    # an inherited priority (## P2 heading) becomes the task's own
    ("## P2\n\n### TASK-1: a\n\nbody\n", "## P2\n\n### TASK-1: a\n- Priority: P0\n\nbody\n"),
    ("### TASK-1: a\n- Priority:\n- Status: PENDING\n", "### TASK-1: a\n- Priority: P0\n- Status: PENDING\n"),
    # lists: the word right after the ID
    ("- [ ] TASK-1 PENDING a\n", "- [ ] TASK-1 P0 PENDING a\n"),
    ("- [ ] TASK-1: a\n", "- [ ] TASK-1 P0: a\n"),
    ("- TASK-1 \u2014 a\n", "- TASK-1 P0 \u2014 a\n"),
    # tables: an empty cell, taking its width from trailing spaces
    ("| ID | Priority | Status |\n|----|----------|--------|\n| TASK-1 |          | PENDING |\n",
     "| ID | Priority | Status |\n|----|----------|--------|\n| TASK-1 | P0       | PENDING |\n"),
])
def test_a_priority_is_written_where_none_was(doc, expected):
    out = edit(doc, "P0")
    assert out == expected
    task = parse(out).get("TASK-1")
    assert task.priority == "P0" and task.priority_written


def test_crlf_bom_and_unicode_survive():
    doc = "\ufeff# Q\t \r\n\r\n### TASK-1: caf\u00e9\r\n- Status: PENDING  \r\n\tnote: \u00fcn\u00efcode\r\n"
    assert edit(doc, "P1") == doc.replace("- Status", "- Priority: P1\r\n- Status")
    assert edit("- [ ] TASK-1 P2 x\r\n", "P3") == "- [ ] TASK-1 P3 x\r\n"


def test_a_table_without_a_priority_column_is_refused_not_rebuilt():
    doc = "| ID | Status | Task |\n|---|---|---|\n| TASK-1 | PENDING | a |\n"
    with pytest.raises(QueueError, match="without a Priority column"):
        edit(doc, "P0")


@SETTINGS
@given(document(), st.data())
def test_set_priority_changes_only_that_tasks_priority(text, data):
    q = parse(text)
    if not q.tasks:
        return
    task = data.draw(st.sampled_from(q.tasks))
    priority = data.draw(st.sampled_from(PRIORITIES))
    try:
        new = priority_text(q, task, priority)
    except QueueError as e:
        # the one refusal: a table row whose table has no Priority column
        assert task.style == "table" and "without a Priority column" in str(e)
        return
    after = parse(new)
    changed = after.get(task.id)
    assert changed.priority == priority and changed.priority_written
    for t in q.tasks:
        u = after.get(t.id)
        assert (u.title, u.status, u.assignee, u.depends, u.tags, u.fields) == (
            t.title, t.status, t.assignee, t.depends, t.tags, t.fields)
        if t.id != task.id:
            assert u.priority == t.priority
    assert len(after.tasks) == len(q.tasks)
    if new == text:  # it had that very priority written already
        assert task.priority_written and task.priority == priority
        return
    # The difference is the priority word alone when one was written; else one small insertion.
    head = 0
    while head < min(len(text), len(new)) and text[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(text), len(new)) - head and text[-1 - tail] == new[-1 - tail]:
        tail += 1
    old_part, new_part = text[head:len(text) - tail], new[head:len(new) - tail]
    around = new[max(head - 2, 0):len(new) - tail + 2]  # the shortest diff may start inside the word
    assert priority in around
    if task.priority_written:
        assert len(old_part) <= 2 and len(new_part) <= 2
    else:  # one insertion: a word, a field line or a cell's word
        assert old_part == "" or old_part.isspace()
        assert len(new_part) <= 30
    assert new.startswith("\ufeff") == text.startswith("\ufeff")


def test_set_priority_goes_through_the_writer_with_its_preconditions(tmp_path):
    path = str(tmp_path / "WORK-QUEUE.md")
    with open(path, "w") as f:
        f.write("- [ ] TASK-1 P2 PENDING a\n- [ ] TASK-2 IN_PROGRESS b\n")
    out = set_priority(path, "TASK-1", "p0", expect=[Status.PENDING], expect_priority="P2")
    assert (out.before, out.after, out.changed) == ("P2", "P0", True)
    assert load(path).get("TASK-1").priority == "P0"
    # A stale page: the status or the priority it saw no longer holds; nothing is written.
    before = read(path)
    with pytest.raises(ConflictError, match="TASK-2 is IN_PROGRESS now, not PENDING; nothing was changed"):
        set_priority(path, "TASK-2", "P1", expect=[Status.PENDING])
    with pytest.raises(ConflictError, match="TASK-1's priority is P0 now, not P2; nothing was changed"):
        set_priority(path, "TASK-1", "P1", expect_priority="P2")
    with pytest.raises(ConflictError, match="TASK-9 cannot be changed: it is not in the queue"):
        set_priority(path, "TASK-9", "P1")
    with pytest.raises(QueueError, match="unknown priority 'P7'"):
        set_priority(path, "TASK-1", "P7")
    assert read(path) == before
    assert set_priority(path, "TASK-1", "P0").changed is False


def test_queue_set_priority_logs_the_change(tmp_path):
    path = str(tmp_path / "WORK-QUEUE.md")
    with open(path, "w") as f:
        f.write("### TASK-1: a\n- Status: BLOCKED\n")
    Queue(path).set_priority("TASK-1", "P1", expect="BLOCKED", reason="from the dashboard")
    with open(os.path.join(tmp_path, "logs", "events.jsonl")) as f:
        event = json.loads(f.readlines()[-1])
    assert (event["task"], event["from"], event["to"], event["event"], event["manual"]) == (
        "TASK-1", "BLOCKED", "BLOCKED", "priority", True)
    assert event["detail"] == "priority P2 -> P1: from the dashboard"


BASE = "# Queue\n\n- [ ] TASK-1 P2 PENDING a\n- [ ] TASK-2 P2 PENDING b\n"


@pytest.mark.parametrize("mine, expected", [
    # The person added a task: robe's priority change is made again on their text.
    (BASE + "- [ ] TASK-9 P3 PENDING written after robe's write\n",
     BASE.replace("TASK-1 P2", "TASK-1 P0") + "- [ ] TASK-9 P3 PENDING written after robe's write\n"),
    # The person set the priority themselves: robe expected P2, so their P3 stays.
    (BASE.replace("TASK-1 P2", "TASK-1 P3"), BASE.replace("TASK-1 P2", "TASK-1 P3")),
])
def test_a_priority_change_is_made_again_on_a_save_that_lands_in_the_file_it_displaced(tmp_path, mine, expected):
    """An editor that held the queue open writes after robe's priority change replaced the file:
    robe's next write makes the person's text the queue again, with the priority change made on
    it where it still expects what it finds."""
    path = str(tmp_path / "WORK-QUEUE.md")
    with open(path, "w") as f:
        f.write(BASE)
    fd = os.open(path, os.O_WRONLY)  # the editor opened the file before robe's write
    assert set_priority(path, "TASK-1", "P0", expect_priority="P2").changed
    os.ftruncate(fd, 0)
    os.pwrite(fd, mine.encode(), 0)
    os.close(fd)
    time.sleep(0.05)
    set_status(path, "TASK-2", Status.BLOCKED)
    assert read(path) == expected.replace("TASK-2 P2 PENDING", "TASK-2 P2 BLOCKED")
