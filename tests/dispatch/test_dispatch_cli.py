"""robe dispatch / openclaw-work: exact output, JSON, busy lock, exit codes; also as real processes."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

from click.testing import CliRunner
from .dispatch_helpers import bin_path, claims_in, read, write, write_fleet

from robe.cli import cli
from robe.cli.dispatch import dispatch

QUEUE = """
- [ ] TASK-001 P1 PENDING second
- [ ] TASK-002 P0 PENDING first
- [ ] TASK-003 P0 PENDING for someone unknown
  - Assignee: merlin
"""


def setup(tmp_path, **settings):
    settings.setdefault("max_active", 5)
    path = write_fleet(tmp_path, {"allegro": settings})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", QUEUE)
    return path


def invoke(*args):
    return CliRunner().invoke(cli, ["dispatch", *args], catch_exceptions=False)


def said(tmp_path, tid: str, priority: str, line: int, verb: str = "dispatched", queue: str | None = None) -> str:
    """A dispatch line: it names the queue file and the task's line there (relative to the
    current folder when inside it, as for a process run in tmp_path)."""
    where = queue or os.path.join(tmp_path, "allegro", "WORK-QUEUE.md")
    return f"allegro: {verb} {tid} ({priority}) attempt 1 from {where}:{line}\n"


def test_output_lines_and_stderr(tmp_path):
    path = setup(tmp_path)
    r = invoke("--fleet", path)
    assert r.exit_code == 0
    assert r.stdout == said(tmp_path, "TASK-002", "P0", 2) + said(tmp_path, "TASK-001", "P1", 1)
    qpath = os.path.join(tmp_path, "allegro", "WORK-QUEUE.md")
    assert r.stderr == (f"{qpath}:3: TASK-003 is assigned to 'merlin', which is not a wizard of this fleet; "
                        "skipped (fix its Assignee, or add a route for it)\n")
    r = invoke("--fleet", path)
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr.endswith("allegro: nothing ready to dispatch\n")


def test_the_fleet_comes_from_robe_fleet_and_wizard_selects(tmp_path, monkeypatch):
    path = setup(tmp_path)
    monkeypatch.setenv("ROBE_FLEET", path)
    r = invoke("-w", "allegro", "--max", "1")
    assert r.stdout == said(tmp_path, "TASK-002", "P0", 2)
    r = invoke("--wizard", "alegro")
    assert r.exit_code == 1
    assert "there is no wizard named 'alegro' (did you mean 'allegro'?)" in r.stderr


def test_json(tmp_path):
    path = setup(tmp_path)
    r = invoke("--fleet", path, "--json", "--max", "1")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    (w,) = data["wizards"]
    assert w["state"] == "ok" and w["live_claims"] == 0 and w["max_active"] == 5
    assert w["claims"] == [{"wizard": "allegro", "id": "TASK-002", "priority": "P0", "attempt": 1, "title": "first",
                            "queue": os.path.join(tmp_path, "allegro", "WORK-QUEUE.md"), "line": 2, "rerun": False}]
    assert [s["id"] for s in data["skipped"]] == ["TASK-003"]
    assert data["exit_code"] == 0 and data["dry_run"] is False


def test_dry_run(tmp_path):
    path = setup(tmp_path)
    before = read(tmp_path / "allegro" / "WORK-QUEUE.md")
    r = invoke("--fleet", path, "--dry-run")
    assert r.stdout == (said(tmp_path, "TASK-002", "P0", 2, "would dispatch")
                        + said(tmp_path, "TASK-001", "P1", 1, "would dispatch"))
    assert read(tmp_path / "allegro" / "WORK-QUEUE.md") == before
    assert not os.path.exists(tmp_path / "allegro" / "work")
    assert not os.path.exists(tmp_path / "allegro" / "logs")


def test_a_second_run_says_busy_and_exits_0(tmp_path):
    path = setup(tmp_path)
    os.makedirs(tmp_path / "allegro" / "logs")
    lock = str(tmp_path / "allegro" / "logs" / "dispatch.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = invoke("--fleet", path)
        assert (r.exit_code, r.stdout) == (0, "")
        assert r.stderr == f"allegro: busy (another dispatch run holds {lock}); left alone\n"
        assert claims_in(tmp_path / "allegro") == []
    finally:
        os.close(fd)
    assert invoke("--fleet", path).exit_code == 0
    assert claims_in(tmp_path / "allegro") == ["TASK-001", "TASK-002"]


def test_a_broken_fleet_file_is_one_sentence_exit_1(tmp_path):
    bad = write(tmp_path / "fleet.yaml", "wizards: [\n")
    r = invoke("--fleet", bad)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {bad}:") and r.stderr.count("\n") == 1


def test_help_names_every_option():
    r = CliRunner().invoke(dispatch, ["--help"])
    for opt in ("--fleet", "--wizard", "--max", "--dry-run", "--no-gateway", "--json"):
        assert opt in r.output


def _env():
    env = dict(os.environ)
    env.pop("ROBE_FLEET", None)
    return env


def test_openclaw_work_console_script_as_a_real_process(tmp_path):
    path = setup(tmp_path)
    p = subprocess.run([bin_path("openclaw-work"), "--fleet", path, "--max", "1"], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == said(tmp_path, "TASK-002", "P0", 2)
    # Found from the working folder, as cron runs it from the fleet's folder.
    p = subprocess.run([bin_path("openclaw-work")], capture_output=True, text=True, cwd=tmp_path, env=_env(),
                       timeout=60)
    assert p.stdout == said(tmp_path, "TASK-001", "P1", 1, queue="allegro/WORK-QUEUE.md")
    p = subprocess.run([bin_path("robe"), "dispatch", "--json"], capture_output=True, text=True, cwd=tmp_path,
                       env=_env(), timeout=60)
    assert p.returncode == 0 and json.loads(p.stdout)["wizards"][0]["claims"] == []
    p = subprocess.run([bin_path("openclaw-work"), "--fleet", str(tmp_path / "nope.yaml")], capture_output=True,
                       text=True, env=_env(), timeout=60)
    assert p.returncode == 1 and p.stderr.startswith("Error: ") and "does not exist" in p.stderr


def test_a_wizard_named_twice_is_dispatched_once(tmp_path):
    path = setup(tmp_path)
    r = invoke("--fleet", path, "--wizard", "allegro", "--wizard", "allegro", "--max", "1")
    assert (r.exit_code, r.stdout) == (0, said(tmp_path, "TASK-002", "P0", 2))
    assert "busy" not in r.stderr


def test_quiet_leaves_out_routine_notes_but_not_problems(tmp_path):
    path = setup(tmp_path)
    assert invoke("--fleet", path).exit_code == 0
    r = invoke("--fleet", path, "--quiet")
    assert (r.exit_code, r.stdout) == (0, "")
    assert "nothing ready" not in r.stderr
    assert "TASK-003 is assigned to 'merlin'" in r.stderr
    os.makedirs(tmp_path / "allegro" / "logs", exist_ok=True)
    fd = os.open(str(tmp_path / "allegro" / "logs" / "dispatch.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = invoke("--fleet", path, "-q")
        assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    finally:
        os.close(fd)
