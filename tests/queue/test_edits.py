"""set_status changes exactly the expected bytes; add writes in the file's style."""

import os
import stat

import pytest

from robe.queue import (Change, ConflictError, NewTask, QueueError, Status, add_task, apply_changes, load, parse,
                        set_status, set_statuses)


def edit(doc, task_id, status):
    text, outcomes = apply_changes(parse(doc), [Change(task_id, Status(status))])
    assert outcomes[0].applied, outcomes
    return text


@pytest.mark.parametrize("doc, status, expected", [
    ("### TASK-1: a\n- Status: PENDING\n", "COMPLETE", "### TASK-1: a\n- Status: COMPLETE\n"),
    ("### TASK-1: a\n- **Status:** pending (waiting)\n", "BLOCKED", "### TASK-1: a\n- **Status:** BLOCKED (waiting)\n"),
    ("- [ ] TASK-1 P1 PENDING a\n", "COMPLETE", "- [x] TASK-1 P1 COMPLETE a\n"),
    ("- [x] TASK-1 COMPLETE a\n", "FAILED", "- [ ] TASK-1 FAILED a\n"),
    ("- TASK-1 **PENDING** a\n", "IN_PROGRESS", "- TASK-1 **IN_PROGRESS** a\n"),
    ("| ID | Status | Task |\n|---|---|---|\n| TASK-1 | PENDING | a |\n", "COMPLETE",
     "| ID | Status | Task |\n|---|---|---|\n| TASK-1 | COMPLETE | a |\n"),
])
def test_status_word_is_the_only_change(doc, status, expected):
    assert edit(doc, "TASK-1", status) == expected


def test_table_keeps_its_columns_aligned():
    doc = ("| ID     | Status      | Task |\n|--------|-------------|------|\n"
           "| TASK-1 | PENDING     | a    |\n")
    out = edit(doc, "TASK-1", "IN_PROGRESS")
    assert out.splitlines()[2] == "| TASK-1 | IN_PROGRESS | a    |"
    back = edit(out, "TASK-1", "PENDING")
    assert back == doc


def test_writing_a_status_where_none_was_written():
    assert edit("### TASK-1: a\n\nbody\n", "TASK-1", "IN_PROGRESS") == "### TASK-1: a\n- Status: IN_PROGRESS\n\nbody\n"
    # Right under the heading, a blank line keeps the body from joining the new list item.
    assert edit("### TASK-1: a\nbody\n", "TASK-1", "FAILED") == "### TASK-1: a\n- Status: FAILED\n\nbody\n"
    # After existing fields, in their style.
    assert edit("### TASK-1: a\n* **Assignee:** ezra\n\nbody\n", "TASK-1", "COMPLETE") == (
        "### TASK-1: a\n* **Assignee:** ezra\n* **Status:** COMPLETE\n\nbody\n")
    assert edit("- [ ] TASK-1 P0 write it\n", "TASK-1", "IN_PROGRESS") == "- [ ] TASK-1 P0 IN_PROGRESS write it\n"
    assert edit("| ID | Status |\n|---|---|\n| TASK-1 |  |\n", "TASK-1", "BLOCKED") == (
        "| ID | Status |\n|---|---|\n| TASK-1 | BLOCKED |\n")
    # At the very end of a file with no final newline.
    assert edit("### TASK-1: a", "TASK-1", "COMPLETE") == "### TASK-1: a\n- Status: COMPLETE\n"


def test_crlf_bom_tabs_and_unicode_survive_an_edit():
    doc = "\ufeff# Q\t \r\n\r\n### TASK-1: café\r\n- Status: PENDING  \r\n\tnote: ünïcode\r\n"
    out = edit(doc, "TASK-1", "COMPLETE")
    assert out == doc.replace("PENDING", "COMPLETE")
    inserted = edit("### TASK-1: a\r\nbody\r\n", "TASK-1", "COMPLETE")
    assert inserted == "### TASK-1: a\r\n- Status: COMPLETE\r\n\r\nbody\r\n"


def test_refused_changes_name_the_reason_and_leave_the_text():
    q = parse("### TASK-1: a\n- Status: COMPLETE\n\n### TASK-1: b\n")
    text, outcomes = apply_changes(q, [Change("TASK-1", Status.PENDING), Change("TASK-9", Status.PENDING)])
    assert text == q.text
    assert [o.applied for o in outcomes] == [False, False]
    assert "has errors" in outcomes[0].reason and "not in the queue" in outcomes[1].reason
    q = parse("### TASK-1: a\n- Status: COMPLETE\n")
    text, (o,) = apply_changes(q, [Change("TASK-1", Status.IN_PROGRESS, expect=(Status.PENDING,))])
    assert text == q.text and not o.applied and o.reason == "TASK-1 is COMPLETE now, not PENDING; nothing was changed"


def read(path, newline=None):
    with open(path, encoding="utf-8", newline=newline) as f:
        return f.read()


def write(tmp_path, text, name="WORK-QUEUE.md"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return str(p)


def test_set_status_on_disk_keeps_mode_and_refuses_stale_preconditions(tmp_path):
    path = write(tmp_path, "### TASK-1: a\n- Status: PENDING\n")
    os.chmod(path, 0o640)
    out = set_status(path, "TASK-1", "IN_PROGRESS", expect=["PENDING"])
    assert (out.before, out.after) == (Status.PENDING, Status.IN_PROGRESS)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(ConflictError, match="IN_PROGRESS now, not PENDING"):
        set_status(path, "TASK-1", "IN_PROGRESS", expect=["PENDING"])
    with pytest.raises(ConflictError, match="not in the queue"):
        set_status(path, "TASK-2", "COMPLETE")
    assert read(path) == "### TASK-1: a\n- Status: IN_PROGRESS\n"
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_several_changes_in_one_write(tmp_path):
    path = write(tmp_path, "- [ ] TASK-1 PENDING a\n- [ ] TASK-2 PENDING b\n- [ ] TASK-3 COMPLETE c\n")
    inode = os.stat(path).st_ino
    outs = set_statuses(path, [Change("TASK-1", Status.COMPLETE), Change("TASK-3", Status.PENDING, (Status.PENDING,)),
                               Change("TASK-2", Status.FAILED)])
    assert [o.applied for o in outs] == [True, False, True]
    assert read(path) == "- [x] TASK-1 COMPLETE a\n- [ ] TASK-2 FAILED b\n- [ ] TASK-3 COMPLETE c\n"
    assert os.stat(path).st_ino != inode  # replaced by rename, not rewritten in place


def test_symlinked_queue_writes_the_target(tmp_path):
    real = write(tmp_path, "### TASK-1: a\n", "real.md")
    link = tmp_path / "WORK-QUEUE.md"
    link.symlink_to(real)
    set_status(str(link), "TASK-1", "COMPLETE")
    assert link.is_symlink()
    assert read(real) == "### TASK-1: a\n- Status: COMPLETE\n"


def test_add_in_each_style_with_the_next_free_id(tmp_path):
    path = write(tmp_path, "# Q\n\n### TASK-009: a\n- Status: PENDING\n")
    tid = add_task(path, NewTask("Second thing", "P1", "ezra", ("TASK-009",), ("x", "y"), "Do it.\nWell."))
    assert tid == "TASK-010"
    assert read(path).endswith("\n### TASK-010: Second thing\n- Priority: P1\n- Status: PENDING\n"
                                      "- Assignee: ezra\n- Depends: TASK-009\n- Tags: x, y\n\nDo it.\nWell.\n")
    t = load(path).get("TASK-010")
    assert (t.priority, t.assignee, t.depends, t.tags, t.body) == ("P1", "ezra", ("TASK-009",), ("x", "y"), "Do it.\nWell.")

    path = write(tmp_path, "- [ ] OPS-1 PENDING first\n  body\n- [ ] OPS-2 PENDING second\n\nafter\n", "l.md")
    assert add_task(path, NewTask("third", "P0")) == "OPS-3"
    assert read(path) == "- [ ] OPS-1 PENDING first\n  body\n- [ ] OPS-2 PENDING second\n- [ ] OPS-3 P0 PENDING third\n\nafter\n"

    path = write(tmp_path, "| ID | Task | Status |\n|--|--|--|\n| T-1 | a | PENDING |\n\nend\r\n", "t.md")
    assert add_task(path, NewTask("b | c", "P2")) == "T-2"
    assert read(path, newline="") == "| ID | Task | Status |\n|--|--|--|\n| T-1 | a | PENDING |\n| T-2 | b \\| c | PENDING |\n\nend\r\n"
    assert load(path).get("T-2").title == "b | c"


def test_add_to_empty_file_and_crlf_file(tmp_path):
    path = write(tmp_path, "")
    assert add_task(path, NewTask("first")) == "TASK-001"
    assert read(path) == "### TASK-001: first\n- Priority: P2\n- Status: PENDING\n"
    path = write(tmp_path, "## TASK-1: a\r\n", "c.md")
    add_task(path, NewTask("b"))
    assert read(path, newline="") == "## TASK-1: a\r\n\r\n## TASK-2: b\r\n- Priority: P2\r\n- Status: PENDING\r\n"


def test_add_refuses_bad_input_and_writes_nothing(tmp_path):
    path = write(tmp_path, "| ID | Status | Task |\n|--|--|--|\n| T-1 | PENDING | a |\n")
    before = read(path)
    with pytest.raises(QueueError, match="no room for a body"):
        add_task(path, NewTask("x", body="long"))
    with pytest.raises(QueueError, match="one line"):
        add_task(path, NewTask("x\ny"))
    with pytest.raises(QueueError, match="T-9 is not in the queue"):
        add_task(path, NewTask("x", depends=("T-9",)))
    with pytest.raises(QueueError, match="not a task ID"):
        add_task(path, NewTask("x", depends=("nope",)))
    assert read(path) == before


def test_a_known_parse_is_reused_only_while_the_file_is_unchanged(tmp_path):
    path = write(tmp_path, "- [ ] TASK-1 PENDING a\n- [ ] TASK-2 PENDING b\n")
    known = load(path)
    out = set_statuses(path, [Change("TASK-1", Status.COMPLETE)], known=known)
    assert out[0].applied and read(path) == "- [x] TASK-1 COMPLETE a\n- [ ] TASK-2 PENDING b\n"
    # The file changed since `known` was parsed: the writer parses the fresh text instead,
    # so TASK-1's new status is seen and the precondition refuses the change.
    out = set_statuses(path, [Change("TASK-1", Status.IN_PROGRESS, (Status.PENDING,))], known=known)
    assert not out[0].applied and "COMPLETE now" in out[0].reason


def test_next_free_id_does_not_depend_on_set_order():
    # T-7 and T-007 are the same number written two ways: the answer (the wider writing)
    # must not change with the order a set happens to iterate in (it varies with PYTHONHASHSEED).
    from robe.queue.checks import next_free_id

    ids = ["T-7", "T-007", "T-3"]
    assert next_free_id(ids) == next_free_id(list(reversed(ids))) == "T-008"
