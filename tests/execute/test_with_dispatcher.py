"""The dispatcher's real claims run by the executor: WORK-QUEUE.md -> robe dispatch ->
robe execute -> completed/ (the file contracts between the two parts, exercised)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import ROBE, answer, outcome


def test_a_dispatched_task_comes_back_as_a_result(make_fleet):
    fleet = make_fleet(ezra={"max_active": 2, "agent": {"kind": "command",
                                                        "argv": [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read())", "{prompt_file}"]}})
    w = fleet.wizard("ezra")
    with open(w.queue, "w") as f:
        f.write("# Queue\n\n## P1\n\n### TASK-001: Rotate the gateway logs\n- Status: PENDING\n\nKeep seven days.\n\n"
                "## P2\n\n- [ ] TASK-002 P2 PENDING $(touch /tmp/pwned) list item\n")
    env = dict(os.environ, ROBE_FLEET=fleet.path)
    r = subprocess.run([ROBE, "dispatch", "--no-gateway"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(n for n in os.listdir(os.path.join(w.house, "work")) if n.endswith(".active")) == \
        ["TASK-001.active", "TASK-002.active"]
    r = subprocess.run([ROBE, "execute", "--once", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted((o["id"], o["status"]) for o in json.loads(r.stdout)) == [("TASK-001", "COMPLETE"),
                                                                           ("TASK-002", "COMPLETE")]
    text = answer(w, "TASK-001")
    assert text.startswith("TASK-001: Rotate the gateway logs\n\nKeep seven days.\n\nTask ID: TASK-001\n")
    assert outcome(w, "TASK-001")["attempt"] == 1
    assert "$(touch /tmp/pwned) list item" in answer(w, "TASK-002")
