"""The scanner's str-method readings agree with the regular expressions they stand in for."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from robe.queue import scan

from .test_properties import SETTINGS


def _by_regex(s: str, cstart: int):
    """A Key: Value line read by _FIELD_RE alone (the reading before the str-method path)."""
    m = scan._FIELD_RE.match(s, cstart)
    if not m:
        return None
    b1, b2, b3, key = m.group("b1", "b2", "b3", "key")
    if b1 and not (b2 or b3) or (b2 or b3) and not b1:
        return None
    key = key.strip()
    if not key or key[0] == "[" or scan._ID_AT_START.match(key):
        return None
    ks, ke = m.span("key")
    return key, m.group("value"), ks, ke, m.start("value")


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
    assert scan._field_parts(s, len(prefix)) == _by_regex(s, len(prefix))
