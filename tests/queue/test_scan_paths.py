"""The scanner's str-method readings agree with the regular expressions they stand in for."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from robe.queue import scan

from .test_properties import SETTINGS


FIELDISH = st.text(alphabet=st.sampled_from(list("StausPrioy -_/:*\t`[]TASK-01é|x ")), max_size=30)


@SETTINGS
@given(st.sampled_from(["", "- ", "  * ", "**"]), FIELDISH)
@example("- ", "Status: PENDING")
@example("- ", "Status :  PENDING  \t")
@example("- ", "Foo__: x")
@example("- ", "Foo_: x")
@example("- ", "Key:x")
@example("- ", "Key:**")
@example("- ", "TASK-1: not a field")
@example("- ", "Tags:")
@example("- ", "A" * 41 + ": long key")
@example("- ", "A" * 42 + ": too long a key")
def test_field_reading_equals_the_regex(prefix, rest):
    s = prefix + rest
    assert scan._field_parts(s, len(prefix)) == scan._field_parts_by_regex(s, len(prefix))


PRIORITYISH = st.text(alphabet=st.sampled_from(list("Pp0134 \t:-\u2014\u2013\u00a0\u2003xé")), max_size=6)


@SETTINGS
@given(PRIORITYISH)
@example("P0")
@example("p3 — Later")
@example("P1:")
@example("P2\u00a0x")
@example("P4 nope")
@example("P10")
def test_priority_heading_reading_equals_the_regex(text):
    import re

    m = re.match(r"([Pp][0-3])(?=$|[\s:\u2014\u2013-])", text)
    assert scan._priority_heading(text) == (m.group(1).upper() if m else None)
