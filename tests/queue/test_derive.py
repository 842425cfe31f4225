"""robe run's parse after its own writes (robe.queue.derive) must be exactly the parse of the
text it wrote, for every queue the generators make and any set of status changes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from robe.queue import Status
from robe.queue.derive import _enclosing, after_status_edits
from robe.queue.edits import Change, plan_changes
from robe.queue.scan import parse

from .strategies import document
from .test_properties import _EXPLORE, SETTINGS


def same(a, b) -> bool:
    return (a.text, a.tasks, a.rejected, a.problems, a.all_ids) == (b.text, b.tasks, b.rejected, b.problems,
                                                                   b.all_ids)


@SETTINGS if _EXPLORE else settings(SETTINGS, max_examples=150)
@given(document(), st.data())
def test_the_derived_parse_is_the_parse_of_the_written_text(text, data):
    old = parse(text, "WORK-QUEUE.md")
    if not old.tasks:
        return
    chosen = data.draw(st.lists(st.sampled_from(old.tasks), min_size=1, max_size=len(old.tasks), unique_by=lambda t: t.id))
    changes = [Change(t.id, data.draw(st.sampled_from(list(Status)))) for t in chosen]
    new_text, outcomes, pieces = plan_changes(old, changes)
    derived = after_status_edits(old, new_text, pieces, outcomes)
    if derived is None:  # a structural edit (a status written where there was none), or a line
        # inside a list task's body (its lines lose their indent there): parsed instead
        assert any(t.edit.status_span is None for t in chosen) or _enclosing(old, {t.id for t in chosen})
        return
    assert same(derived, parse(new_text, "WORK-QUEUE.md"))


def test_a_long_queue_of_every_style_in_one_batch():
    lines = ["# Queue", ""]
    for i in range(0, 300, 3):
        lines += [f"### TASK-{i}: section task", "- Status: PENDING", "- Priority: P1", "", "Body.", ""]
    lines += ["## A checklist", ""] + [f"- [ ] TASK-{i} PENDING list task" for i in range(1, 300, 3)]
    lines += ["", "## A table", "", "| ID | Status | Task |", "|----|--------|------|"]
    lines += [f"| TASK-{i} | PENDING | table task |" for i in range(2, 300, 3)]
    old = parse("\n".join(lines) + "\n", "q.md")
    assert len(old.tasks) == 300
    changes = [Change(t.id, [Status.IN_PROGRESS, Status.COMPLETE, Status.FAILED][k % 3])
               for k, t in enumerate(old.tasks) if k % 2 == 0]
    new_text, outcomes, pieces = plan_changes(old, changes)
    derived = after_status_edits(old, new_text, pieces, outcomes)
    assert derived is not None
    assert same(derived, parse(new_text, "q.md"))


def test_a_task_inside_another_s_block_changes_that_task_s_body_too():
    text = ("### TASK-1: a section\n- Status: PENDING\n\n- [ ] TASK-2 PENDING inside its body\n\n"
            "| ID | Status |\n|----|--------|\n| TASK-3 | PENDING |\n\n## TASK-4 after\n")
    old = parse(text, "q.md")
    changes = [Change("TASK-2", Status.COMPLETE), Change("TASK-3", Status.IN_PROGRESS)]
    new_text, outcomes, pieces = plan_changes(old, changes)
    derived = after_status_edits(old, new_text, pieces, outcomes)
    assert derived is not None
    assert "[x] TASK-2 COMPLETE" in derived.get("TASK-1").body
    assert "| TASK-3 | IN_PROGRESS |" in derived.get("TASK-1").body
    assert same(derived, parse(new_text, "q.md"))


def test_a_changed_line_not_found_once_in_the_enclosing_body_is_parsed_again():
    # a sub-item of a list task: its line loses its indent in the parent's body
    text = "- [ ] TASK-1 PENDING parent\n  - [ ] TASK-2 PENDING child\n"
    old = parse(text, "q.md")
    new_text, outcomes, pieces = plan_changes(old, [Change("TASK-2", Status.COMPLETE)])
    derived = after_status_edits(old, new_text, pieces, outcomes)
    fresh = parse(new_text, "q.md")
    assert derived is None or same(derived, fresh)
    assert "TASK-2 COMPLETE" in fresh.get("TASK-1").body
