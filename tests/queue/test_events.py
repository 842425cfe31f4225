"""The event log: one JSON line per event, appended whole, read back in order."""

from __future__ import annotations

import multiprocessing

from robe.queue.events import append_event, read_events


def test_an_event_line_reads_back(tmp_path):
    path = str(tmp_path / "logs" / "events.jsonl")
    nasty = 'quote " backslash \\ newline \n tab \t nul \x00 é 漢 \U0001f600'
    written = append_event(path, "TASK-1", "PENDING", "IN_PROGRESS", by="me", attempt=2, detail=nasty, tags=["x"])
    assert list(read_events(path)) == [written]
    with open(path, encoding="utf-8") as f:
        line = f.read()
    assert line.endswith("}\n") and line.count("\n") == 1


def test_a_torn_line_is_skipped(tmp_path):
    path = str(tmp_path / "logs" / "events.jsonl")
    first = append_event(path, "TASK-1", None, "PENDING", by="me")
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"ts": "2026-')  # a writer killed mid-line
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n")
    last = append_event(path, "TASK-2", None, "PENDING", by="me")
    assert list(read_events(path)) == [first, last]


def _append_many(path: str, n: int, who: str) -> None:
    for i in range(n):
        append_event(path, f"TASK-{i}", "PENDING", "IN_PROGRESS", by=who, detail="x" * 200)


def test_concurrent_writers_never_interleave_within_a_line(tmp_path):
    path = str(tmp_path / "logs" / "events.jsonl")
    procs = [multiprocessing.Process(target=_append_many, args=(path, 200, f"w{k}")) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    events = list(read_events(path))
    assert len(events) == 800
    assert {e["by"] for e in events} == {"w0", "w1", "w2", "w3"}
