"""The displaced index is read incrementally (robe run reads it on every write): what is
appended, completed or trimmed since the last read must all be seen."""

import json
import os

from robe.queue import displaced


def _line(f, entry, end="\n"):
    f.write(json.dumps(entry) + end)
    f.flush()


def test_entries_sees_appends_torn_lines_and_trims(tmp_path):
    queue = str(tmp_path / "WORK-QUEUE.md")
    assert displaced.entries(queue) == []
    displaced.record(queue, {"wrote": [1, 2, 3], "tasks": 1})
    assert [e["tasks"] for e in displaced.entries(queue)] == [1]
    index = displaced.index_of(queue)
    with open(index, "a") as f:
        _line(f, {"wrote": [1, 2, 4], "tasks": 2})
        f.write('{"wrote": [1, 2, 5], "ta')  # another process still writing its line
        f.flush()
        assert [e["tasks"] for e in displaced.entries(queue)] == [1, 2]
        f.write('sks": 3}\n')
        f.write("not json\n")
        f.flush()
    assert [e["tasks"] for e in displaced.entries(queue)] == [1, 2, 3]
    assert displaced.last_write(queue)["tasks"] == 3
    # trimmed (a new file in its place): read from its start
    tmp = index + ".tmp"
    with open(tmp, "w") as f:
        _line(f, {"wrote": [9, 9, 9], "tasks": 7})
    os.replace(tmp, index)
    assert [e["tasks"] for e in displaced.entries(queue)] == [7]
    os.unlink(index)
    assert displaced.entries(queue) == []


def test_landed_skips_versions_no_longer_kept(tmp_path):
    queue = tmp_path / "WORK-QUEUE.md"
    queue.write_text("# Q\n")
    folder = tmp_path / "logs" / "displaced"
    folder.mkdir(parents=True)
    kept = folder / "WORK-QUEUE.md.v1"
    kept.write_text("old")
    sig = displaced.signature(os.lstat(kept))
    displaced.record(str(queue), {"wrote": [0, 0, 0], "tasks": 1, "displaced": "WORK-QUEUE.md.v0",
                                  "displaced_sig": [0, 0, 0], "change": []})
    displaced.record(str(queue), {"wrote": [0, 0, 1], "tasks": 1, "displaced": kept.name,
                                  "displaced_sig": sig, "change": [{"set": "T-1", "status": "COMPLETE"}]})
    assert displaced.landed(str(queue), 0) == []
    kept.write_text("a person's save landed here")  # changed after robe moved it
    os.utime(kept, (os.stat(queue).st_mtime + 5,) * 2)
    found = displaced.landed(str(queue), os.stat(queue).st_mtime)
    assert [e["displaced"] for e in found] == [kept.name]
    assert found[0]["changes"] == [{"set": "T-1", "status": "COMPLETE"}]
