"""robe demo as a real process: the seed's three wizards drain examples/WORK-QUEUE.md, then the
progress report and the checkpoint log are printed."""

import os
import subprocess
import time

from robe.demo.example import QUEUE

from .conftest import HERE, ROBE, robe_env, statuses

EXAMPLE = os.path.join(HERE, "..", "..", "examples", "WORK-QUEUE.md")


def test_the_packaged_queue_is_the_example():
    with open(EXAMPLE, encoding="utf-8") as f:
        assert QUEUE == f.read(), "examples/WORK-QUEUE.md changed: copy it into src/robe/cron/demo_queue.py"


def test_demo_runs_to_completion_and_prints_the_report(tmp_path):
    folder = tmp_path / "demo"
    t0 = time.monotonic()
    r = subprocess.run([ROBE, "demo", "--dir", str(folder)], capture_output=True, text=True, timeout=120,
                       env=robe_env(), cwd=str(tmp_path))
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith(f"robe demo: a fleet of ezra, allegro-primus, allegro (echo agents) in {folder}\n")
    assert "robe demo: WORK-QUEUE.md has 8 tasks, 6 PENDING; running the loop" in out
    assert "robe demo: queue drained in " in out and ": 1 BLOCKED, 7 COMPLETE\n" in out
    # dependencies are honoured: TASK-002 waits for TASK-001
    lines = out.splitlines()
    done_1 = lines.index(next(l for l in lines if "TASK-001  IN_PROGRESS -> COMPLETE" in l))
    start_2 = lines.index(next(l for l in lines if "TASK-002  PENDING -> IN_PROGRESS" in l))
    assert done_1 < start_2
    assert "== progress report: robe report --print" in out
    report = out.split("== progress report")[1].split("== checkpoint")[0]
    assert "# Progress report" in report and "BLOCKED" in report
    assert "no self-monitor samples" not in report  # the demo records uptime while its executors run
    assert "== checkpoint log: git -C" in out
    log = out.split("== checkpoint log:")[1].splitlines()
    assert any("checkpoint" in l for l in log[1:]), out
    assert statuses(str(folder / "WORK-QUEUE.md")) == {
        "TASK-001": "COMPLETE", "TASK-002": "COMPLETE", "TASK-003": "COMPLETE", "TASK-004": "COMPLETE",
        "TASK-005": "COMPLETE", "TASK-006": "COMPLETE", "TASK-007": "COMPLETE", "TASK-008": "BLOCKED"}
    assert took < 60, f"the demo took {took:.0f} s"


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("mine")
    r = subprocess.run([ROBE, "demo", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                       env=robe_env())
    assert r.returncode == 1
    assert r.stderr == f"Error: {tmp_path} is not empty; give 'robe demo --dir' a new or empty folder\n"
    assert os.listdir(tmp_path) == ["x"]
