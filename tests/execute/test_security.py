"""Task text never reaches a shell; nothing makes robe write a result for another task."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from robe.execute import Executor, Options
from robe.house import House
from robe.plumbing import UnsafePath

from .conftest import agent_script, answer, drop_claim, outcome

FAST = Options(scan_interval=0.2, heartbeat_interval=0.2, grace=0.5, shutdown_grace=1.0)
NASTY = ["$(touch /tmp/pwned)", "; rm -rf ~", "`touch /tmp/pwned`", "a' || touch /tmp/pwned || '", "{prompt_file}"]


@pytest.fixture
def decoy_home(tmp_path, monkeypatch):
    home = tmp_path / "decoy-home"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    monkeypatch.setenv("HOME", str(home))
    if os.path.exists("/tmp/pwned"):
        os.unlink("/tmp/pwned")
    return home


@pytest.mark.parametrize("kind", ["command-title", "command-prompt-file", "echo"])
def test_titles_full_of_shell_syntax_run_nothing(make_fleet, decoy_home, tmp_path, kind):
    if kind == "command-title":
        agent = {"kind": "command", "argv": ["printf", "%s|", "{title}", "{task_id}"]}
    elif kind == "command-prompt-file":
        agent = {"kind": "command", "argv": ["head", "-n", "1", "{prompt_file}"]}
    else:
        agent = {"kind": "echo"}
    fleet = make_fleet(ezra={"agent": agent})
    w = fleet.wizard("ezra")
    for i, title in enumerate(NASTY):
        drop_claim(w, f"TASK-{i:03d}", title, body=f"Also {title} in the body.")
    Executor([w], FAST).run(once=True)
    for i, title in enumerate(NASTY):
        o = outcome(w, f"TASK-{i:03d}")
        assert o["status"] == "COMPLETE", o
        text = answer(w, f"TASK-{i:03d}")
        if kind == "command-title":
            assert text == f"{title}|TASK-{i:03d}|"  # the very characters, as one argument
        else:
            assert title in text
    assert not os.path.exists("/tmp/pwned")
    assert (decoy_home / "precious.txt").read_text() == "keep me"


def test_a_claim_naming_another_task_cannot_write_that_tasks_result(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001", id="TASK-002")
    Executor([w], FAST).run(once=True)
    o = outcome(w, "TASK-001")
    assert o["status"] == "FAILED" and "names task 'TASK-002'" in o["error"]
    assert sorted(os.listdir(os.path.join(w.house, "completed"))) == ["TASK-001.json", "TASK-001.txt"]


def test_a_claim_for_another_wizard_is_refused(make_fleet):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}}, bezalel={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001", wizard="bezalel")
    Executor([w], FAST).run(once=True)
    assert "is for wizard 'bezalel'" in outcome(w, "TASK-001")["error"]


def test_an_agent_cannot_aim_robes_result_write_elsewhere(make_fleet, tmp_path):
    # The agent plants symlinks where robe will write: its own result and another task's.
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    script = agent_script(tmp_path, "planter.py", f"""
import os, sys
completed = os.path.join(os.environ["HERMES_HOME"], "..", "completed")
os.symlink({str(victim)!r}, os.path.join(completed, os.environ["ROBE_TASK_ID"] + ".txt"))
os.symlink({str(victim)!r}, os.path.join(completed, os.environ["ROBE_TASK_ID"] + ".json"))
print("OTHER-9: I am the answer of another task")
""")
    fleet = make_fleet(ezra={"agent": {"kind": "command", "argv": [sys.executable, script]}})
    w = fleet.wizard("ezra")
    drop_claim(w, "TASK-001")
    Executor([w], FAST).run(once=True)
    assert victim.read_text() == "untouched"
    txt = Path(w.house, "completed", "TASK-001.txt")
    assert not txt.is_symlink() and txt.read_text() == "OTHER-9: I am the answer of another task\n"
    assert not os.path.lexists(os.path.join(w.house, "completed", "OTHER-9.txt"))


def test_files_in_work_that_are_not_claims_are_left_alone(make_fleet, tmp_path):
    fleet = make_fleet(ezra={"agent": {"kind": "echo"}})
    w = fleet.wizard("ezra")
    work = Path(w.house, "work")
    outside = tmp_path / "outside.json"
    outside.write_text('{"id": "TASK-007"}')
    for name in ("task-1.active", "TASK-1.txt", ".TASK-2.active.99.tmp", "TASK-3.active.bak", "..active", "TASK-.active"):
        (work / name).write_text("{}")
    os.symlink(outside, work / "TASK-007.active")
    ran = Executor([w], FAST).run(once=True)
    # Only the symlinked claim is a claim-shaped name; it is refused, not followed.
    assert [o["id"] for o in ran] == ["TASK-007"] and ran[0]["status"] == "FAILED"
    assert sorted(os.listdir(os.path.join(w.house, "completed"))) == ["TASK-007.json", "TASK-007.txt"]


def test_house_paths_take_only_valid_ids(tmp_path):
    (tmp_path / "house").mkdir()
    h = House(str(tmp_path / "house"), "ezra")
    h.ensure()
    assert h.answer_path("TASK-1").endswith("/completed/TASK-1.txt")
    for bad in ("../TASK-1", "TASK-1/../../x", "task-1", "TASK-1\n", "", "/etc/passwd", "TASK-1.txt"):
        with pytest.raises(UnsafePath):
            h.answer_path(bad)


def test_a_completed_folder_leading_outside_the_house_is_refused(tmp_path):
    from robe.errors import RobeError

    house = tmp_path / "house"
    house.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", house / "completed")
    with pytest.raises(RobeError, match="outside the house"):
        House(str(house), "ezra").ensure()
