"""The kept parse (robe.queue.cache): a derived parse equals a fresh one; a stale one is never used."""

from __future__ import annotations

import os

from hypothesis import example, given
from hypothesis import strategies as st

import robe.queue
from robe.queue import Change, Status, parse, set_status, set_statuses
from robe.queue import cache
from robe.queue.edits import _apply

from .strategies import document
from .test_properties import SETTINGS

BENCH_LIKE = """# Q

## P0 — Critical

### TASK-001: first
- Status: PENDING
- Tags: a, b

Body of the first.

- [ ] TASK-002 PENDING nested in the first's body
- [X] TASK-003 PENDING box and word disagree

| ID | Status | Task |
|----|--------|------|
| TASK-004 | PENDING | a row |
| TASK-005 | BLOCKED | another |

### TASK-006: last
- Status: COMPLETE
"""


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _derive(text, changes):
    q = parse(text, "Q.md")
    new, outcomes, pieces, statuses = _apply(q, changes)
    return new, cache.derive(q, new, pieces, statuses)


@SETTINGS
@given(document(), st.data())
@example(BENCH_LIKE, None)
def test_a_derived_parse_equals_a_fresh_parse_of_the_new_text(text, data):
    q = parse(text, "Q.md")
    if not q.tasks:
        return
    if data is None:  # the explicit example: every task at once
        picks = [(t.id, Status.IN_PROGRESS) for t in q.tasks]
    else:
        ids = data.draw(st.lists(st.sampled_from(sorted({t.id for t in q.tasks})), min_size=1, max_size=4,
                                 unique=True))
        picks = [(tid, data.draw(st.sampled_from(list(Status)))) for tid in ids]
    new, derived = _derive(text, [Change(tid, s) for tid, s in picks])
    if new == text:
        return  # nothing to write (each task already had its status)
    if derived is not None:
        assert derived == parse(new, "Q.md")
    elif all(q.get(tid).status_written for tid, _ in picks):
        # Only writing a status where none was written may defeat derivation.
        raise AssertionError(f"no derived parse although every edited task had a written status: {picks}")


def test_derive_handles_nested_tasks_boxes_cells_and_warnings():
    new, derived = _derive(BENCH_LIKE, [Change("TASK-002", Status.COMPLETE), Change("TASK-003", Status.COMPLETE),
                                        Change("TASK-004", Status.IN_PROGRESS)])
    fresh = parse(new, "Q.md")
    assert derived == fresh
    assert "- [x] TASK-003 COMPLETE" in new and "| TASK-004 | IN_PROGRESS | a row |" in new
    assert not [p for p in fresh.problems if p.code == "checkbox"]  # the disagreement is gone
    assert "- [x] TASK-002 COMPLETE nested" in fresh.get("TASK-001").body


def test_writing_a_missing_status_is_not_derived():
    text = "### TASK-1: a\n\nbody\n"
    new, derived = _derive(text, [Change("TASK-1", Status.IN_PROGRESS)])
    assert "Status: IN_PROGRESS" in new and derived is None


def test_put_then_get_returns_the_same_parse_for_the_same_text_only(tmp_path):
    path = str(tmp_path / "WORK-QUEUE.md")
    q = parse(BENCH_LIKE, path)
    cache.put(q)
    assert cache.get(path, BENCH_LIKE, q.default_priority) == q
    assert cache.get(path, BENCH_LIKE + "\n", q.default_priority) is None  # another text
    assert cache.get(path, BENCH_LIKE, "P0") is None  # another default priority
    assert cache.get(str(tmp_path / "other.md"), BENCH_LIKE, q.default_priority) is None  # another path
    cache.put(parse(BENCH_LIKE, path, only={"TASK-001"}))  # a partial parse is never kept
    assert cache.get(path, BENCH_LIKE, q.default_priority) == q


def test_a_damaged_or_open_cache_file_is_a_miss(tmp_path):
    path = str(tmp_path / "WORK-QUEUE.md")
    q = parse(BENCH_LIKE, path)
    cache.put(q)
    entry = cache._file(path)
    os.chmod(entry, 0o666)
    assert cache.get(path, BENCH_LIKE, q.default_priority) is None  # writable by others: never read
    os.chmod(entry, 0o600)
    with open(entry, "rb") as f:
        data = f.read()
    with open(entry, "wb") as f:
        f.write(data[: len(data) // 2])
    assert cache.get(path, BENCH_LIKE, q.default_priority) is None
    with open(entry, "wb") as f:
        f.write(b"\x00garbage")
    assert cache.get(path, BENCH_LIKE, q.default_priority) is None


def test_the_writer_keeps_the_parse_of_what_it_wrote(tmp_path):
    path = str(tmp_path / "WORK-QUEUE.md")
    with open(path, "w") as f:
        f.write(BENCH_LIKE)
    # A first write parses only what it needs (a partial parse): nothing is kept.
    set_status(path, "TASK-004", "IN_PROGRESS")
    text = _read(path)
    assert cache.get(path, text, "P2") is None
    # A write made on a whole-file parse (the dispatcher's) keeps the parse of the text it wrote...
    set_statuses(path, [Change("TASK-002", Status.COMPLETE), Change("TASK-005", Status.PENDING)],
                 known=parse(text, path))
    text = _read(path)
    kept = cache.get(path, text, "P2")
    assert kept is not None and kept == parse(text, path)
    # ... which the next whole-file reader uses, and so does a lone set_status, which then
    # keeps the parse of what it wrote in turn.
    assert robe.queue.load(path) == kept
    set_status(path, "TASK-001", "FAILED")
    text = _read(path)
    kept = cache.get(path, text, "P2")
    assert kept is not None and kept == parse(text, path) and kept.get("TASK-001").status is Status.FAILED
    # A person's edit: the kept parse no longer matches and is not used.
    with open(path, "a") as f:
        f.write("\n### TASK-007: added by hand\n- Status: PENDING\n")
    text = _read(path)
    assert cache.get(path, text, "P2") is None
    set_status(path, "TASK-007", "IN_PROGRESS")
    assert parse(_read(path), path).get("TASK-007").status is Status.IN_PROGRESS


def test_a_re_read_keeps_its_segment_plan_so_the_next_one_searches_only_the_change(tmp_path, monkeypatch):
    import pytest

    from robe.queue import scan

    path = str(tmp_path / "Q.md")
    t0 = BENCH_LIKE
    q0 = parse(t0, path)
    cache.put(q0)  # a fresh parse: its plan is not known
    t1 = t0.replace("Body of the first.", "Body of the first, edited.")
    q1, reread = cache.recall(path, t1, q0.default_priority)
    assert reread and q1 == parse(t1, path)
    new, _, pieces, statuses = _apply(q1, [Change("TASK-005", Status.IN_PROGRESS)])
    assert cache.keep_derived(q1, new, pieces, statuses)
    monkeypatch.setattr(scan._Segments, "plan", classmethod(lambda *a: pytest.fail("the whole text was searched")))
    t2 = new.replace("another", "another one")
    q2, reread = cache.recall(path, t2, q0.default_priority)
    assert reread and q2 == parse(t2, path)
    # An edit that brings a line defeating segments is still caught.
    q3, reread = cache.recall(path, new.replace("Body of the first", "```\nBody of the first"), q0.default_priority)
    assert (q3, reread) == (None, False)


def test_only_the_latest_plans_are_remembered():
    texts = [f"# H{i}\n" for i in range(cache._plans.kept + 3)]
    for t in texts:
        cache._know_plan(t, ((0,), (1,), (t,)))
    assert cache._plans.get(texts[-1]) == ((0,), (1,), (texts[-1],))
    assert cache._plans.get(texts[0]) is None and len(cache._plans.memo) <= cache._plans.kept
    # An equal text that is another object is not the one remembered (ids can be reused).
    assert cache._plans.get("".join(["# H", str(cache._plans.kept + 2), "\n"])) is None


def test_the_kept_text_is_compared_as_the_bytes_robe_read_and_wrote(tmp_path, monkeypatch):
    from robe.queue import store

    path = tmp_path / "Q.md"
    text = "# Queue \u2014 caf\u00e9\n\n- TASK-1 P0 PENDING one\n"
    path.write_text(text, encoding="utf-8")
    data = path.read_bytes()
    read = store.decode(data, str(path))
    assert store.encoded(read) is data  # known from the read: not encoded again
    assert store.encoded(read + "x") == (read + "x").encode("utf-8")
    monkeypatch.setattr(store, "_encoded", store.TextMemo(2))  # a new process: nothing known
    q = parse(read, str(path))
    cache.put(q)
    assert cache.get(str(path), read, q.default_priority) == q
    assert cache.get(str(path), read.replace("one", "two"), q.default_priority) is None
