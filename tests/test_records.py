"""robe.records.record makes classes that behave as collections.namedtuple's do."""

from __future__ import annotations

from collections import namedtuple
import copy
import pickle

from hypothesis import given
from hypothesis import strategies as st
import pytest

from robe.records import record

FIELDS = ["a", "b", "c", "d"]


class Point(record("Point", "x y label", defaults=("",))):
    __slots__ = ()

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def test_a_subclass_keeps_its_methods_slots_and_name():
    p = Point(1, -2)
    assert p == (1, -2, "") and p.norm1() == 3 and p.label == ""
    assert repr(p) == "Point(x=1, y=-2, label='')"
    assert Point.__module__ == __name__
    with pytest.raises(AttributeError):
        p.z = 1  # no __dict__
    assert pickle.loads(pickle.dumps(p)) == p and type(pickle.loads(pickle.dumps(p))) is Point
    assert copy.deepcopy(p) == p and type(copy.copy(p)) is Point


@given(st.integers(0, 4), st.lists(st.integers(), min_size=0, max_size=6),
       st.dictionaries(st.sampled_from(FIELDS + ["zz"]), st.integers(), max_size=3))
def test_construction_matches_namedtuple(ndefaults, args, kwargs):
    defaults = tuple(range(100, 100 + ndefaults))
    Ours = record("R", " ".join(FIELDS), defaults=defaults)
    Theirs = namedtuple("R", FIELDS, defaults=defaults)

    def build(cls):
        try:
            return ("ok", tuple(cls(*args, **kwargs)))
        except TypeError:
            return ("TypeError",)
    assert build(Ours) == build(Theirs)
    if build(Theirs)[0] == "ok":
        ours, theirs = Ours(*args, **kwargs), Theirs(*args, **kwargs)
        assert ours._asdict() == theirs._asdict() and repr(ours) == repr(theirs)
        assert ours._fields == theirs._fields and Ours._field_defaults == Theirs._field_defaults
        assert [getattr(ours, f) for f in FIELDS] == [getattr(theirs, f) for f in FIELDS]
        assert Ours.__match_args__ == Theirs.__match_args__
        change = {k: v for k, v in kwargs.items() if k in FIELDS}
        assert tuple(ours._replace(**change)) == tuple(theirs._replace(**change))
        with pytest.raises(ValueError):
            ours._replace(nope=1)
        assert Ours._make(list(ours)) == ours
        with pytest.raises(TypeError):
            Ours._make([1])
