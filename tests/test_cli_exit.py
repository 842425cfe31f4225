"""Console scripts end without interpreter teardown: nothing written may be lost by it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def test_a_large_json_listing_through_a_pipe_arrives_whole(tmp_path):
    q = tmp_path / "WORK-QUEUE.md"
    q.write_text("".join(f"- [ ] TASK-{i:04d} P1 PENDING Task number {i} {'x' * 200}\n" for i in range(3000)))
    r = subprocess.run([os.path.join(BIN, "robe"), "queue", "list", "-f", str(q), "--json"], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 3000  # ~700 KB, well past any pipe or stdio buffer


def test_exit_codes_and_messages_survive(tmp_path):
    q = tmp_path / "WORK-QUEUE.md"
    q.write_text("- TASK-1 PENDING a\n- TASK-1 PENDING b\n")
    r = subprocess.run([os.path.join(BIN, "robe"), "queue", "validate", "-f", str(q)], capture_output=True, text=True)
    assert r.returncode == 1 and "defined twice" in r.stdout + r.stderr
    r = subprocess.run([os.path.join(BIN, "openclaw-work"), "--no-such-option"], capture_output=True, text=True)
    assert r.returncode == 2 and "No such option" in r.stderr


def test_atexit_handlers_still_run_and_files_they_write_are_complete(tmp_path):
    out = tmp_path / "atexit.txt"
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(out)!r}, 'w').write('ran' * 1000))\n"
            "sys.argv = ['robe', '--version']\n"
            "from robe.cli import main\nmain()\n"
            "print('not reached')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "robe 0.1.0\n"  # main() ended the process
    assert out.read_text() == "ran" * 1000


def test_called_from_python_it_returns_like_click(tmp_path):
    code = ("from robe.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as e:\n    print('exit', e.code)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout == "robe 0.1.0\nexit 0\n"
