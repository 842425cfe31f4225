"""A changed file re-read from an earlier parse (scan.reread) equals a fresh parse of it."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from robe.queue import parse, scan
from robe.queue.scan import reread

from .strategies import STATUSES, document, list_block, opaque_block, plain_block, section_task, table_block
from .test_properties import SETTINGS
from .test_segments import PLAIN


def _plan(text: str):
    lines, offsets = scan.split_lines(text)
    segments = scan._Segments.plan(text, lines, offsets)
    return None if segments is None else segments.kept()


def _same(old_text: str, new_text: str, path: str = "Q.md"):
    """reread's answer, checked against a fresh parse when it gives one; and the same given
    the old text's segment plan (as robe.queue.cache keeps it), whose answer must agree."""
    old = parse(old_text, path)
    got = reread(old, new_text)
    if got is not None:
        fresh = parse(new_text, path)
        assert got == fresh
        assert got.problems == fresh.problems  # (part of ==, but says which when it fails)
    plan = _plan(old_text)
    if plan is not None:
        planned = scan.reread_planned(old, new_text, plan)
        assert (planned is None) == (got is None)
        if planned is not None:
            assert planned[0] == got
            assert planned[1] == _plan(new_text)
    return got


@st.composite
def edited(draw):
    """A document and the same document after an edit a person might make (or a random one)."""
    text = draw(document(opaque=draw(st.integers(0, 4)) == 0))
    nl = "\r\n" if "\r\n" in text else "\n"
    rows = text.split(nl)
    kind = draw(st.sampled_from(["replace", "insert", "delete", "status", "append", "char"]))
    block = st.one_of(section_task(), list_block(), table_block(), plain_block(), st.just([""]),
                      st.just(["more body text"]), opaque_block() if draw(st.integers(0, 5)) == 0 else st.just([]))
    if kind == "status":
        spots = [i for i in range(len(text)) if any(text.startswith(s, i) for s in STATUSES)]
        if spots:
            i = draw(st.sampled_from(spots))
            word = next(s for s in STATUSES if text.startswith(s, i))
            return text, text[:i] + draw(st.sampled_from(STATUSES)) + text[i + len(word):]
        kind = "append"
    if kind == "char":
        i = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and i < len(text):
            return text, text[:i] + text[i + 1:]
        return text, text[:i] + draw(st.sampled_from(["x", " ", "\n", "#", "-", "|", "`", "é"])) + text[i:]
    if kind == "append":
        new = draw(block)
        return text, text + nl + nl.join(new) + draw(st.sampled_from(["", nl]))
    i = draw(st.integers(0, len(rows)))
    j = i if kind == "insert" else draw(st.integers(i, min(len(rows), i + 6)))
    new = [] if kind == "delete" else draw(block)
    return text, nl.join(rows[:i] + new + rows[j:])


@SETTINGS
@given(edited())
@example(("- TASK-0 wire\n  - Assignee: ezra\n", "- TASK-0 wire\n## P0\n  - Assignee: ezra\n"))  # an item cut short
def test_a_reread_equals_a_fresh_parse_of_the_changed_text(pair):
    _same(*pair)


@SETTINGS
@given(edited(), st.integers(1, 3))
def test_a_reread_of_a_reread_stays_equal(pair, more):
    """Cron may re-read several edits in a row, each from the previous re-read."""
    old, new = pair
    q = parse(old, "Q.md")
    for k in range(more):
        text = new if k % 2 == 0 else old
        r = reread(q, text)
        q = r if r is not None else parse(text, "Q.md")
        assert q == parse(text, "Q.md")


def test_a_person_s_common_edits_are_reread_not_parsed_again(monkeypatch):
    edits = {
        "status word": PLAIN.replace("TASK-002 P1 PENDING", "TASK-002 P1 COMPLETE"),
        "typo in a body": PLAIN.replace("Body.", "Body, fixed."),
        "a task appended": PLAIN + "\n### TASK-010: appended\n- Status: PENDING\n",
        "a line deleted": PLAIN.replace("  - Assignee: ezra\n", ""),
        "a priority heading changed": PLAIN.replace("## P2", "## P1"),
        "the duplicate renamed": PLAIN.replace("| TASK-001 | PENDING | a duplicate", "| TASK-008 | PENDING | a renamed"),
        "a dependency removed": PLAIN.replace("- Depends: TASK-009\n", ""),
    }
    whole = []
    real = scan._blocks
    monkeypatch.setattr(scan, "_blocks", lambda lines, lo=0, hi=None, kinds=None: (
        whole.append(hi is None), real(lines, lo, hi, kinds))[1])
    old = parse(PLAIN, "Q.md")
    for name, text in edits.items():
        assert text != PLAIN, name
        whole.clear()
        got = reread(old, text)
        assert got is not None, name
        assert whole and not any(whole), name  # pass 1 read segments only, never the whole text
        assert got == parse(text, "Q.md"), name
    renamed = _same(PLAIN, edits["the duplicate renamed"])
    assert renamed.get("TASK-001") is not None and renamed.get("TASK-008") is not None
    assert [t.depends for t in _same(PLAIN, edits["a dependency removed"]).rejected if t.id == "TASK-001"] == [(), ()]


def test_only_the_segments_around_the_change_are_read(monkeypatch):
    text = "\n".join(f"## TASK-{i:03d}: t\n- Status: PENDING\n\nbody {i}\n" for i in range(1, 200))
    q = parse(text)
    read = []
    real = scan._Segments.read_segment
    monkeypatch.setattr(scan._Segments, "read_segment", lambda self, k: (read.append(k), real(self, k)))
    new = text.replace("body 150", "body 150, longer", 1).replace("body 151\n", "body 151\nand a line\n", 1)
    got = reread(q, new)
    assert got == parse(new)
    assert 1 <= len(set(read)) <= 4
    assert got.get("TASK-199").edit.status_span[0] == q.get("TASK-199").edit.status_span[0] + len(", longer\nand a line")


def test_new_headings_read_again_only_the_tasks_whose_headings_changed(monkeypatch):
    # Priority sections of section tasks, as people write them; the reread is planned (as
    # robe.queue.cache does) and splits only the lines it reads.
    text = "".join(f"## P{p}\n\n" + "".join(f"### TASK-{p}{i:02d}: t\n- Status: PENDING\n\nbody {i}\n\n"
                                           for i in range(40)) for p in (1, 2))
    q, plan = parse(text), _plan(text)
    read = []
    real = scan._Segments.read_segment
    monkeypatch.setattr(scan._Segments, "read_segment", lambda self, k: (read.append(k), real(self, k)))

    def segments_read(new):
        read.clear()
        got, _ = scan.reread_planned(q, new, plan)
        assert got == parse(new)
        return len(set(read))

    # A task appended: its own segment and the one it is added to.
    assert segments_read(text + "### TASK-999: added\n- Status: PENDING\n") <= 2
    # A "## P0" written above the last ten P2 tasks: they (and only they) now inherit P0.
    at = text.index("### TASK-230")
    new = text[:at] + "## P0\n\n" + text[at:]
    assert parse(new).get("TASK-235").priority == "P0" and parse(new).get("TASK-229").priority == "P2"
    assert 10 <= segments_read(new) <= 13
    # A deeper heading written at the end of a task's body: that task's body takes it in.
    at = text.index("### TASK-110")
    assert segments_read(text[:at] + "#### Notes\n\n" + text[at:]) <= 3


@given(st.sampled_from(["```\n", "> quote\n", "<div>\n", "Title\n===\n", "  # indented\n"]))
@example("```\n")
def test_lines_that_defeat_segments_make_reread_give_up(line):
    assert _same(PLAIN, PLAIN + line) is None  # in the new text
    assert _same(PLAIN + line, PLAIN) is None  # in the old text, where the change is


def test_a_changed_bom_or_newline_style_gives_up():
    assert _same(PLAIN, PLAIN.lstrip("\ufeff")) is None
    assert _same(PLAIN, PLAIN.replace("\n", "\r\n")) is None
    assert _same(PLAIN.replace("\n", "\r\n"), PLAIN.replace("\n", "\r\n").replace("Body.", "Body!")) is not None


def test_unchanged_text_is_the_old_parse_and_a_partial_parse_is_never_a_base():
    q = parse(PLAIN)
    assert reread(q, PLAIN) is q
    assert reread(parse(PLAIN, only={"TASK-002"}), PLAIN + "x\n") is None


@given(st.text("ab\n", max_size=40), st.text("ab\n", max_size=40))
def test_common_prefix_and_suffix(a, b):
    p = scan._common_prefix(a, b)
    assert a[:p] == b[:p] and (p == min(len(a), len(b)) or a[p] != b[p])
    limit = min(len(a), len(b)) - p
    s = scan._common_suffix(a, b, limit)
    assert s <= limit and a[len(a) - s:] == b[len(b) - s:]
    assert s == limit or a[len(a) - s - 1] != b[len(b) - s - 1]


def test_common_prefix_and_suffix_across_chunks():
    a = "x" * (3 * scan._CHUNK + 17)
    for i in (0, 5, scan._CHUNK - 1, scan._CHUNK, 2 * scan._CHUNK + 3, len(a) - 1):
        b = a[:i] + "y" + a[i + 1:]
        assert scan._common_prefix(a, b) == i
        assert scan._common_suffix(a, b, len(a) - i) == len(a) - i - 1
    assert scan._common_prefix(a, a + "z") == len(a)
    assert scan._common_suffix(a, "z" + a, len(a)) == len(a)


@SETTINGS
@given(st.text(" \t\r#=-`~<>|a", max_size=8))
def test_one_line_is_judged_as_the_pattern_judges_it(line):
    import re

    assert scan._defeats_segments(line) == bool(re.match(scan._UNSEGMENTED, "\n" + line + "\n"))


@SETTINGS
@given(edited(), st.data())
def test_a_partial_parse_planned_from_another_text_equals_one_planned_afresh(pair, data):
    old, new = pair
    plan = _plan(old)
    q = parse(new, "Q.md")
    ids = [t.id for t in q.tasks + q.rejected]
    if plan is None or not ids:
        return
    only = {data.draw(st.sampled_from(ids))}
    assert parse(new, "Q.md", only=only, hint=(old, plan)) == parse(new, "Q.md", only=only)


def test_an_edit_after_a_person_s_edit_plans_its_segments_from_the_kept_plan(tmp_path, monkeypatch):
    from robe.queue import Status, cache, set_status

    path = tmp_path / "Q.md"
    path.write_text(PLAIN, encoding="utf-8")
    cache.put(parse(PLAIN, str(path)))  # a fresh parse is kept with its plan
    edited_text = PLAIN.replace("Body.", "Body, edited by a person.")
    path.write_text(edited_text, encoding="utf-8")
    monkeypatch.setattr(scan, "_UNSEGMENTED", "(")  # the whole-text search would fail to compile
    set_status(str(path), "TASK-007", Status.IN_PROGRESS)
    text = path.read_text(encoding="utf-8")
    assert "Body, edited by a person." in text  # the person's edit is kept
    assert parse(text).get("TASK-007").status is Status.IN_PROGRESS
    assert text.count("IN_PROGRESS") == 1


@SETTINGS
@given(edited())
def test_a_re_read_through_the_cache_equals_a_fresh_parse(tmp_path_factory, pair):
    """cache.recall: the kept parse's tasks stay in columns until the re-read has moved them."""
    from robe.queue import cache

    old, new = pair
    path = str(tmp_path_factory.mktemp("q") / "Q.md")
    cache.put(parse(old, path))
    got, reread_ = cache.recall(path, new, "P2")
    if got is not None:
        assert reread_ == (old != new) and got == parse(new, path)
