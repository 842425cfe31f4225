"""Each task style, mixed in one file, and what is not a task."""

from robe.queue import Status, parse

DOC = """# Queue

## P0 — Critical

### TASK-001: Wire the Nostr gateway
- Priority: P1
- **Status:** pending
- Assignee: Allegro-Primus
- Depends: TASK-003, BUG-7
- Tags: gateway, Nostr
- Owner: the sovereign

The body is the prompt.
It runs until the next heading of the same or higher level.

#### Notes
Still the body.

### BUG-7 — Fix the port clash

- [ ] TASK-002 P1 PENDING Write the weekly digest
  - Tags: digest

  Indented lines under a list item are its body.

| ID | Priority | Status | Task | Assignee | Notes |
|----|----------|--------|------|----------|-------|
| TASK-003 | p0 | complete | Rotate the gateway logs | ezra | weekly \\| quick |
| TASK-004 |  |  | Inherit the heading's priority |  |  |

## P3

- TASK-005 [P2] (BLOCKED) Wait for the sovereign
* [x] TASK-006 Tick-box done, no word
1. TASK-007 `IN_PROGRESS` Numbered list item
"""


def tasks():
    q = parse(DOC, "Q.md")
    assert q.problems == ()
    return {t.id: t for t in q.tasks}


def test_section_task_reads_fields_in_any_case_and_bold():
    t = tasks()["TASK-001"]
    assert (t.style, t.line, t.title) == ("section", 5, "Wire the Nostr gateway")
    assert t.priority == "P1" and t.priority_written
    assert t.status is Status.PENDING
    assert t.assignee == "allegro-primus"
    assert t.depends == ("TASK-003", "BUG-7")
    assert t.tags == ("gateway", "nostr")
    assert t.fields == (("Owner", "the sovereign"),)
    assert t.body == ("The body is the prompt.\nIt runs until the next heading of the same or higher level.\n\n"
                      "#### Notes\nStill the body.")
    assert t.section == "P0 — Critical"


def test_section_task_without_fields_inherits_priority_and_is_pending():
    t = tasks()["BUG-7"]
    assert (t.title, t.priority, t.priority_written, t.status, t.status_written) == (
        "Fix the port clash", "P0", False, Status.PENDING, False)
    # Its body holds the checklist below it (until the next same-level heading).
    assert "TASK-002" in t.body


def test_list_task_words_before_title_and_body():
    t = tasks()["TASK-002"]
    assert (t.style, t.priority, t.status, t.title) == ("list", "P1", Status.PENDING, "Write the weekly digest")
    assert t.body == "Indented lines under a list item are its body."
    assert t.tags == ("digest",)
    assert t.section == "BUG-7 — Fix the port clash"


def test_table_rows_any_case_inherit_and_keep_other_columns():
    ts = tasks()
    t3, t4 = ts["TASK-003"], ts["TASK-004"]
    assert (t3.style, t3.priority, t3.status, t3.title, t3.assignee) == (
        "table", "P0", Status.COMPLETE, "Rotate the gateway logs", "ezra")
    assert t3.fields == (("Notes", "weekly | quick"),)
    assert (t4.priority, t4.status, t4.assignee, t4.status_written) == ("P0", Status.PENDING, None, False)


def test_list_words_may_be_wrapped_and_checkbox_means_complete():
    ts = tasks()
    assert (ts["TASK-005"].priority, ts["TASK-005"].status, ts["TASK-005"].title) == (
        "P2", Status.BLOCKED, "Wait for the sovereign")
    assert ts["TASK-006"].status is Status.COMPLETE and ts["TASK-006"].priority == "P3"
    assert ts["TASK-007"].status is Status.IN_PROGRESS and ts["TASK-007"].title == "Numbered list item"


def test_a_title_that_starts_with_a_status_word_in_lower_case_stays_a_title():
    q = parse("- [ ] TASK-1 Complete the migration\n- [ ] TASK-2 COMPLETE the migration\n")
    assert (q.tasks[0].status, q.tasks[0].title) == (Status.PENDING, "Complete the migration")
    assert (q.tasks[1].status, q.tasks[1].title) == (Status.COMPLETE, "the migration")


def test_plain_field_lines_under_a_heading_count_only_with_a_known_key():
    q = parse("### TASK-1: a\n**Status:** BLOCKED\nAssignee: ezra\n\n### TASK-2: b\nGoal: learn\nScope: all\n")
    a, b = q.tasks
    assert (a.status, a.assignee, a.body) == (Status.BLOCKED, "ezra", "")
    assert (b.status, b.fields, b.body) == (Status.PENDING, (), "Goal: learn\nScope: all")


def test_setext_heading_task():
    q = parse("TASK-9: underlined\n============\n- Status: FAILED\n")
    assert [(t.id, t.title, t.status) for t in q.tasks] == [("TASK-9", "underlined", Status.FAILED)]


def test_not_tasks_code_comments_quotes_indented_code_html():
    doc = "\n".join([
        "```", "### TASK-1: in a fence", "```",
        "~~~", "- [ ] TASK-2 PENDING tilde fence", "~~~",
        "<!--", "| TASK-3 | PENDING | comment |", "## TASK-4: still comment", "-->",
        "> ### TASK-5: quoted", "lazy line of the quote", "",
        "    ### TASK-6: indented code", "",
        "<div>", "## TASK-7: in html", "</div>", "",
        "### TASK-8: real",
    ])
    q = parse(doc)
    assert [t.id for t in q.tasks] == ["TASK-8"]
    assert q.problems == ()


def test_a_table_without_id_and_status_columns_holds_no_tasks():
    q = parse("| Task | Owner |\n|---|---|\n| TASK-1 | ezra |\n")
    assert q.tasks == ()


def test_unclosed_fence_hides_the_rest():
    q = parse("```\n### TASK-1: hidden\n")
    assert q.tasks == ()


def test_crlf_bom_and_unicode():
    text = "\ufeff## TASK-1: café ☕\r\n- Status: COMPLETE\r\n\r\nüber\r\n"
    q = parse(text)
    t = q.tasks[0]
    assert (t.title, t.status, t.body, q.bom, q.newline) == ("café ☕", Status.COMPLETE, "über", True, "\r\n")


def test_empty_and_taskless_files_are_empty_queues():
    assert parse("").tasks == () and parse("").problems == ()
    assert parse("# Just notes\n\nNothing to do.\n").tasks == ()
