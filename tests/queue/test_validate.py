"""Every validation error: file:line, a plain sentence, a hint; bad tasks left out, the rest usable."""

from robe.queue import parse


def problems(doc, **kw):
    q = parse(doc, "Q.md", **kw)
    return q, [(p.line, p.code, p.severity) for p in q.problems]


def test_bad_ids_in_each_style():
    doc = ("### task-1: lower case\n\n- [ ] TASK_2 PENDING underscore\n\n- notes-3 are just words\n\n"
           "| ID | Status |\n|---|---|\n| TASK-1a | PENDING |\n| TASK-4 | PENDING |\n")
    q, ps = problems(doc)
    assert ps == [(1, "id", "error"), (3, "id", "error"), (9, "id", "error")]
    assert [t.id for t in q.tasks] == ["TASK-4"]
    assert "hint: write it as TASK-1" in str(q.problems[0])
    assert str(q.problems[0]).startswith("Q.md:1: error: 'task-1' is not a valid task ID")


def test_duplicate_ids_leave_out_both_and_suggest_a_free_id():
    q, ps = problems("## TASK-1: a\n\n## TASK-1: b\n\n## TASK-7: c\n")
    assert ps == [(3, "duplicate", "error")]
    assert [t.id for t in q.tasks] == ["TASK-7"]
    assert {t.line for t in q.rejected} == {1, 3}
    assert "first at line 1" in q.problems[0].message and "TASK-8" in q.problems[0].hint


def test_unknown_status_with_alias_hint():
    q, ps = problems("## TASK-1: a\n- Status: DONE\n\n| ID | Status |\n|--|--|\n| TASK-2 | wip |\n")
    assert ps == [(2, "status", "error"), (6, "status", "error")]
    assert "did you mean COMPLETE?" in q.problems[0].hint
    assert "did you mean IN_PROGRESS?" in q.problems[1].hint
    assert q.tasks == ()


def test_unknown_priority():
    q, ps = problems("## TASK-1: a\n- Priority: urgent\n\n## TASK-2: b\n- Priority: P2\n")
    assert ps == [(2, "priority", "error")]
    assert [t.id for t in q.tasks] == ["TASK-2"]
    assert "P0 (most urgent)" in q.problems[0].hint


def test_depends_on_missing_task_or_not_an_id():
    q, ps = problems("## TASK-1: a\n- Depends: TASK-9\n\n## TASK-2: b\n- Depends: the first one\n\n## TASK-3: c\n")
    assert ps[0] == (1, "depends", "error")
    assert ps[1:] == [(5, "depends", "error")] * 3  # "the", "first", "one"
    assert "TASK-9, which is not in the queue" in q.problems[0].message
    assert [t.id for t in q.tasks] == ["TASK-3"]


def test_dependency_cycles_including_self():
    doc = ("## TASK-1: a\n- Depends: TASK-2\n\n## TASK-2: b\n- Depends: TASK-3\n\n## TASK-3: c\n- Depends: TASK-1\n\n"
           "## TASK-4: d\n- Depends: TASK-4\n\n## TASK-5: e\n- Depends: TASK-1\n")
    q, ps = problems(doc)
    assert sorted(ps) == [(1, "cycle", "error"), (4, "cycle", "error"), (7, "cycle", "error"), (10, "cycle", "error")]
    msgs = {p.task_id: p.message for p in q.problems}
    assert "TASK-1 -> TASK-2 -> TASK-3 -> TASK-1" in msgs["TASK-1"]
    assert "TASK-4 -> TASK-4" in msgs["TASK-4"]
    # TASK-5 waits on a task in a cycle: it stays usable (it simply never becomes ready).
    assert [t.id for t in q.tasks] == ["TASK-5"]


def test_unknown_assignee_when_the_fleet_is_known():
    q, ps = problems("## TASK-1: a\n- Assignee: merlin\n\n## TASK-2: b\n- Assignee: ezra\n", known_assignees={"ezra"})
    assert ps == [(1, "assignee", "error")]
    assert "known wizards: ezra" in q.problems[0].hint
    assert [t.id for t in q.tasks] == ["TASK-2"]


def test_broken_task_table_is_reported_not_silently_empty():
    q, ps = problems("| ID | Status |\n|---|---|\n| TASK-1 | PENDING |\n| TASK-2 | PENDING | extra |\n")
    assert ps == [(1, "table", "error")]
    assert "line 4 has 3 cells but the header has 2" in q.problems[0].message
    assert q.tasks == ()


def test_checkbox_disagreeing_with_status_is_a_warning_and_status_wins():
    q, ps = problems("- [x] TASK-1 PENDING a\n")
    assert ps == [(1, "checkbox", "warning")]
    assert q.tasks[0].status.value == "PENDING" and q.errors == ()
