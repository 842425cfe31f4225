"""parse() and the cyclic garbage collector: paused while parsing, the result moved to the
oldest generation, nothing frozen for good and nobody else's freeze undone."""

from __future__ import annotations

import gc
import weakref

from robe.queue import parse

TEXT = "".join(f"- [ ] TASK-{i:04d} P1 PENDING Task {i}\n" for i in range(3000))


class _Node:
    pass


def test_after_a_parse_the_young_generation_is_empty_and_gc_still_runs():
    gc.collect()
    queue = parse(TEXT)
    assert len(queue.tasks) == 3000
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # moved to the oldest generation, not frozen
    assert gc.get_count()[0] < 50  # the next allocations do not traverse 3,000 records
    # Cyclic garbage made afterwards is still collected.
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_a_parse_leaves_someone_elses_freeze_alone():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        parse(TEXT)
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_with_gc_disabled_by_the_caller_it_stays_disabled():
    gc.disable()
    try:
        parse(TEXT)
        assert not gc.isenabled()
    finally:
        gc.enable()
