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


@SETTINGS
@given(st.text("TASK-0123 :\t\u2014\u2013\u00a0\u3000x-", max_size=12))
def test_the_id_and_separator_patterns_read_as_their_character_class_forms(s):
    import re

    from robe.queue.model import ID_PATTERN

    old_id = re.compile(rf"({ID_PATTERN})(?=$|[\s:\u2014\u2013-])")
    old_sep = re.compile(r"[ \t]*(?:[:\u2014\u2013]|-(?=[ \t]|$))?[ \t]*")
    for pos in range(len(s) + 1):
        a, b = scan._ID_AT_START.match(s, pos), old_id.match(s, pos)
        assert (a and a.group(1)) == (b and b.group(1))
        assert scan._SEPARATOR_RE.match(s, pos).end() == old_sep.match(s, pos).end()


def test_patterns_compile_on_first_use_and_then_are_the_compiled_pattern():
    import subprocess
    import sys

    code = ("import re, robe.queue.scan as s\n"
            "assert not isinstance(s._WORD_RE, re.Pattern) and not isinstance(s._ATX_RE, re.Pattern)\n"
            "q = s.parse('## P1\\n\\n- [ ] TASK-1 PENDING one\\n')\n"
            "assert q.get('TASK-1').title == 'one'\n"
            "assert isinstance(s._WORD_RE, re.Pattern) and isinstance(s._ATX_RE, re.Pattern)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "ok", r.stderr
