"""A parse that starts from an earlier one (``parse(text, after=old)``, robe run's read of a
person's save) must be exactly the parse of the whole text, whatever the edit: lines added,
removed or replaced anywhere, a fence or a heading opened halfway, a table grown by a row."""

from hypothesis import given, settings
from hypothesis import strategies as st

from robe.queue.scan import _reparse, parse

from .strategies import document
from .test_properties import _EXPLORE, SETTINGS

# Pieces of text that change the structure below them when typed into a line.
SNIPPETS = ["```", "~~~", "<!--", "-->", "# ", "## P0\n", "### TASK-77: new\n", "| x |", "|---|", "\n", "> ",
            "- [ ] TASK-78 PENDING t\n", "    ", "===\n", "- Status: DONE\n", "- Depends: TASK-1\n", "TASK-1"]


def same(a, b) -> bool:
    return (a.text, a.tasks, a.rejected, a.problems, a.all_ids, a.newline, a.bom, a.basis) == (
        b.text, b.tasks, b.rejected, b.problems, b.all_ids, b.newline, b.bom, b.basis)


@st.composite
def edited(draw):
    """(old text, new text): lines of another document put in place of some lines, or a
    snippet typed at some offset."""
    old = draw(document())
    lines = old.split("\n")
    if draw(st.booleans()):
        i = draw(st.integers(0, len(lines)))
        j = draw(st.integers(i, min(len(lines), i + 4)))
        piece = draw(document(tight=True)).lstrip("\ufeff").split("\n") if draw(st.booleans()) else []
        new = "\n".join(lines[:i] + piece + lines[j:])
    else:
        at = draw(st.integers(0, len(old)))
        new = old[:at] + draw(st.sampled_from(SNIPPETS)) + old[at:]
    return old, new


@SETTINGS if _EXPLORE else settings(SETTINGS, max_examples=400)
@given(edited())
def test_a_parse_after_an_earlier_one_is_the_parse_of_the_text(pair):
    old_text, new_text = pair
    old = parse(old_text, "WORK-QUEUE.md")
    assert same(parse(new_text, "WORK-QUEUE.md", after=old), parse(new_text, "WORK-QUEUE.md"))


@SETTINGS if _EXPLORE else settings(SETTINGS, max_examples=150)
@given(document(), document(tight=True))
def test_a_document_appended_under_a_heading(head, tail):
    """The commonest save: tasks added at the end. Read from the last heading when it can be."""
    old_text = head.rstrip("\r\n") + "\n\n## Added\n"
    new_text = old_text + tail.lstrip("\ufeff")
    old = parse(old_text, "q.md")
    assert same(parse(new_text, "q.md", after=old), parse(new_text, "q.md"))


def queue(n: int) -> str:
    lines = ["# Queue", "", "## P1 — soon", ""]
    for i in range(1, n + 1):
        lines += [f"### TASK-{i}: section task {i}", "- Status: COMPLETE", "- Depends: TASK-1" if i > 1 else "", ""]
    lines += ["## P0", "", "- [ ] TASK-900 PENDING a list task", ""]
    return "\n".join(lines)


def test_an_appended_task_is_read_from_the_last_heading():
    old = parse(queue(50), "q.md")
    new_text = old.text + "- [ ] TASK-901 PENDING another\n"
    part = _reparse(old, new_text, "q.md", None)
    assert part is not None, "an append below a heading reads from that heading"
    full = parse(new_text, "q.md")
    assert same(part, full)
    added = part.by_id()["TASK-901"]
    assert (added.priority, added.section, added.line) == ("P0", "P0", len(new_text.split("\n")) - 1)
    # the tasks above the heading are the earlier parse's own objects, not parsed again
    assert part.by_id()["TASK-7"] is old.by_id()["TASK-7"]


def test_the_checks_across_tasks_are_made_again_on_the_whole_file():
    old = parse(queue(5), "q.md")
    # a duplicate of a task far above, and a dependency on a task that is not there
    new_text = old.text + "- [ ] TASK-3 PENDING again\n- [ ] TASK-902 PENDING x\n  - Depends: TASK-404\n"
    part = _reparse(old, new_text, "q.md", None)
    assert part is not None
    assert same(part, parse(new_text, "q.md"))
    assert {p.code for p in part.problems} >= {"duplicate"}
    assert "TASK-3" not in {t.id for t in part.tasks}  # both copies are left out


def test_a_heading_inside_a_section_task_is_no_place_to_start():
    text = "Intro.\n\n## TASK-1: everything\n- Status: PENDING\n\n### notes\n\nsome text\n"
    old = parse(text, "q.md")
    assert [line for line, _ in old.basis.restarts] == [2]  # TASK-1's own heading, not "notes"
    assert same(parse(text + "more text\n", "q.md", after=old), parse(text + "more text\n", "q.md"))
    assert _reparse(old, "Intro!" + text[6:], "q.md", None) is None  # above every heading


def test_a_fence_opened_above_the_last_heading_hides_it():
    old = parse(queue(3), "q.md")
    at = old.text.index("## P0")
    new_text = old.text[:at] + "```\n" + old.text[at:]
    assert same(parse(new_text, "q.md", after=old), parse(new_text, "q.md"))
    assert "TASK-900" not in parse(new_text, "q.md").all_ids
