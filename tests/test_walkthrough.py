"""The README's walk-through works verbatim in a fresh folder (issue 16, "must show").

The shell block under "A first fleet, step by step" is taken from README.md as it stands and
run with bash (-e: every step must succeed) in an empty folder: init, two wizards (ezra, the
real Hermes agent, on a stand-in OpenAI-compatible server on 127.0.0.1; bob, the echo agent),
a task in each wizard's own queue, doctor, dispatch, execute, monitor, status, and the answers.
The only stand-in is the model; hermes is the real one, found on PATH as a person installs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .fleet.model_stub import ModelStub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.hermes


def walkthrough() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## A first fleet, step by step\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path, hermes_bin):
    block = walkthrough()
    assert block.startswith('export MODEL_URL="${MODEL_URL:-http://127.0.0.1:11434/v1}"\nrobe init wizards ')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(hermes_bin, bin_dir / "hermes")  # hermes on PATH, from its own virtualenv
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "fresh"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBE_")}
    env.update(PATH=f"{os.path.dirname(sys.executable)}:{bin_dir}:/usr/bin:/bin", HOME=str(home))
    with ModelStub(reply="Hello, fleet: five words here.", model="qwen2.5:7b") as stub:
        env["MODEL_URL"] = stub.base_url
        try:
            p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env, capture_output=True,
                               text=True, timeout=420)
        finally:
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "robe"), "gateway", "stop", "--fleet",
                            str(work / "wizards" / "fleet.yaml")], env=env, capture_output=True, timeout=60)
    out = p.stdout
    assert p.returncode == 0, f"exit {p.returncode}\n--- stdout\n{out[-6000:]}\n--- stderr\n{p.stderr[-6000:]}"
    assert sorted(os.listdir(work)) == ["wizards"]
    lines = out.splitlines()
    # doctor found the real hermes and the model answering, with the context Hermes needs
    assert any(re.match(r"OK    ezra: agent: hermes at .*/hermes: Hermes Agent v0\.", line) for line in lines), out
    assert f"OK    ezra: model: {stub.base_url}/models answers and lists qwen2.5:7b" in lines
    assert "OK    ezra: context: fleet.yaml's context length is 65,536 tokens (Hermes needs 64,000)" in lines
    # dispatch names each task's own queue file and line; each wizard took its own queue's task
    queue = (work / "wizards" / "ezra" / "WORK-QUEUE.md").read_text().splitlines()
    ezra_line = next(i + 1 for i, t in enumerate(queue) if "TASK-004" in t)
    assert f"ezra: would dispatch TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:{ezra_line}" in lines
    assert f"ezra: dispatched TASK-004 (P0) attempt 1 from ezra/WORK-QUEUE.md:{ezra_line}" in lines
    assert "bob: dispatched TASK-001 (P2) attempt 1 from bob/WORK-QUEUE.md:5" in lines
    assert any(re.fullmatch(r"ezra  TASK-004  COMPLETE  [0-9.]+ s", line) for line in lines), out
    assert any(re.fullmatch(r"bob  TASK-001  COMPLETE  [0-9.]+ s", line) for line in lines), out
    assert "ezra: TASK-004 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE" in lines
    assert "bob: TASK-001 IN_PROGRESS -> COMPLETE (attempt 1): result COMPLETE" in lines
    # the fleet-wide list, the task with its answer, the whole answer
    assert re.search(r"^ezra +TASK-004 +P0 +COMPLETE ", out, re.M) and re.search(r"^bob +TASK-001 +P2 +COMPLETE ",
                                                                                 out, re.M)
    assert re.search(r"^Latest attempt: 1 of 1, by ezra \(hermes\): COMPLETE in [0-9.]+ s, [0-9,]+ tokens", out, re.M)
    assert "\n  Hello, fleet: five words here.\n" in out
    assert "TASK-001: Count to three\n\necho agent of wizard bob, attempt 1." in out
    # the real Hermes sent the task to the model
    sent = "\n".join(str(m.get("content")) for r in stub.requests for m in r["body"].get("messages", []))
    assert "Say hello to the fleet in five words" in sent
    assert "ezra: gateway was down; started it" in p.stderr
