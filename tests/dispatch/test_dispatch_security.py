"""Task text never becomes a path outside work/ and never reaches a shell."""

from __future__ import annotations

import json
import os
import re

import pytest
from .dispatch_helpers import claims_in, read, write, write_fleet

from robe.house import House
from robe.plumbing import UnsafePath


def tree(root) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        for n in files + dirs:
            out.add(os.path.relpath(os.path.join(folder, n), root))
    return out


def test_a_path_in_place_of_an_id_is_never_a_task_nor_a_file(tmp_path, dispatch_run):
    house = tmp_path / "fleet" / "allegro"
    path = write_fleet(tmp_path / "fleet", {"allegro": {"max_active": 10}})
    write(house / "WORK-QUEUE.md", """
    ### TASK-1/../../x: heading with a path
    - Status: PENDING

    - [ ] TASK-2/../../../y P0 PENDING a list item with a path
    - [ ] ../TASK-3 P0 PENDING another

    | ID | Status | Task |
    |----|--------|------|
    | TASK-4/../../z | PENDING | a row with a path |
    | TASK-5 | PENDING | a good row |
    """)
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-5"]
    assert claims_in(house) == ["TASK-5"]
    assert tree(tmp_path) == {"fleet", "fleet/fleet.yaml", "fleet/allegro", "fleet/allegro/WORK-QUEUE.md",
                              "fleet/allegro/WORK-QUEUE.md.lock", "fleet/allegro/work",
                              "fleet/allegro/work/TASK-5.active", "fleet/allegro/logs",
                              "fleet/allegro/logs/dispatch.lock", "fleet/allegro/logs/events.jsonl"} | {
        p for p in tree(tmp_path) if p.startswith("fleet/allegro/logs/displaced")}  # the version robe replaced
    assert [p for p in tree(tmp_path) if p.startswith("fleet/allegro/logs/displaced/")]


@pytest.mark.parametrize("bad", ["TASK-1/../../x", "../TASK-1", "TASK-1\0", "task-1", "TASK-1 ", ".", "..", ""])
def test_claim_functions_refuse_anything_but_an_id(tmp_path, bad):
    house = House(str(tmp_path))
    with pytest.raises(UnsafePath):
        house.claim_path(bad)
    with pytest.raises(UnsafePath):
        house.create_claim({"id": bad})
    with pytest.raises(UnsafePath):
        house.archive_result(bad, 1)
    with pytest.raises(UnsafePath):
        house.write_result(bad, b"answer", {})
    assert os.listdir(tmp_path) == []


def test_a_claim_that_is_a_symlink_out_of_work_is_never_written_through(tmp_path, dispatch_run):
    path = write_fleet(tmp_path, {"allegro": {"max_active": 10}})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", "- [ ] TASK-001 P0 PENDING one\n- [ ] TASK-002 P0 PENDING two\n")
    outside = write(tmp_path / "outside.txt", "precious\n")
    os.makedirs(tmp_path / "allegro" / "work")
    os.symlink(outside, tmp_path / "allegro" / "work" / "TASK-001.active")
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-002"]
    assert read(outside) == "precious\n"


def test_a_10000_character_title_and_shell_text_stay_data(tmp_path, dispatch_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    long = "A" * 10_000
    nasty = "$(touch PWNED1) `touch PWNED2`; touch PWNED3 && rm -rf x | cat > PWNED4"
    path = write_fleet(tmp_path, {"allegro": {"max_active": 10}})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", f"""
    ### TASK-001: {long}
    - Status: PENDING

    ### TASK-002: {nasty}
    - Status: PENDING

    {nasty}
    """)
    run = dispatch_run(path)
    assert [c.id for c in run.report.claims] == ["TASK-001", "TASK-002"]
    assert run.out[0] == "allegro: dispatched TASK-001 (P2) attempt 1 from allegro/WORK-QUEUE.md:1"
    assert claims_in(tmp_path / "allegro") == ["TASK-001", "TASK-002"]
    rec = json.loads(read(tmp_path / "allegro" / "work" / "TASK-001.active"))
    assert rec["title"] == long
    rec = json.loads(read(tmp_path / "allegro" / "work" / "TASK-002.active"))
    assert rec["title"] == nasty and rec["body"] == nasty
    for folder, _, files in os.walk(tmp_path):
        assert not [f for f in files if f.startswith("PWNED")]


def test_the_dispatcher_has_no_shell():
    import robe.cli.dispatch
    import robe.dispatch
    import robe.house
    import robe.routing

    sources = [m.__file__ for m in (robe.dispatch, robe.house, robe.routing, robe.cli.dispatch)]
    for src in sources:
        text = read(src)
        assert not re.search(r"shell\s*=\s*True|os\.system|os\.popen|subprocess", text), src
