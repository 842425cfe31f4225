"""Console scripts: their output arrives whole through a pipe, their exit codes are kept."""

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
