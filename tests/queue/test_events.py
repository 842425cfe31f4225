"""The event log's JSON writer (robe.queue.events.to_json) writes exactly what json.dumps writes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from robe.queue.events import append_event, read_events, to_json

from .test_properties import SETTINGS

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    | st.dictionaries(st.integers() | st.booleans() | st.none(), inner, max_size=2),
    max_leaves=12,
)


@SETTINGS
@given(values)
def test_to_json_writes_what_json_writes(value):
    assert to_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert to_json(value, compact=False) == json.dumps(value, ensure_ascii=False)


def test_strings_are_escaped_as_json_escapes_them():
    nasty = 'quote " backslash \\ newline \n tab \t nul \x00 bell \x07 del \x7f é 漢 \U0001f600 \ud800'
    assert json.loads(to_json({"k": nasty})) == {"k": nasty}
    assert to_json([nasty]) == json.dumps([nasty], ensure_ascii=False, separators=(",", ":"))


def test_an_event_line_reads_back(tmp_path):
    path = str(tmp_path / "logs" / "events.jsonl")
    written = append_event(path, "TASK-1", "PENDING", "IN_PROGRESS", by="me", attempt=2, detail="a\nb", tags=["x"])
    assert list(read_events(path)) == [written]
    with open(path, encoding="utf-8") as f:
        line = f.read()
    assert line.endswith("}\n") and line.count("\n") == 1
