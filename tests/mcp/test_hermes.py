"""End to end with the real Hermes agent: ezra's Hermes, running a task under robe run, calls
robe's add_task (the task appears in the file) and ask_wizard to allegro (an echo wizard);
allegro's answer comes back into ezra's conversation and ezra's task completes with it.

The model is the only stand-in: a scripted OpenAI-compatible server on 127.0.0.1 that answers
with tool calls. Hermes runs from its own virtualenv (with its ``mcp`` extra, which its MCP
client needs) and starts ``robe mcp --as ezra`` itself, from the config.yaml robe wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from robe.cron.schedule import robe_command
from robe.fleet.config import load_fleet
from robe.fleet.homes import ensure_house
from robe.queue import Status, load
from robe.queue.asks import ask_of

from ..conftest import HERMES_VENV
from ..support import free_port
from .tool_model import ToolModel

pytestmark = pytest.mark.hermes
ROBE = os.path.join(os.path.dirname(sys.executable), "robe")
MARKER = "MARKER-7431"


@pytest.fixture(scope="session")
def hermes_mcp_bin(hermes_bin) -> str:
    """The real hermes, with the ``mcp`` package its MCP client needs (hermes-agent's ``mcp``
    extra, at the version of the hermes-agent that is installed)."""
    python = os.path.join(HERMES_VENV, "bin", "python")
    if subprocess.run([python, "-c", "import mcp"], capture_output=True).returncode != 0:
        version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('hermes-agent'))"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        r = subprocess.run([os.path.join(HERMES_VENV, "bin", "pip"), "install", "-q", f"hermes-agent[mcp]=={version}"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"pip install hermes-agent[mcp] failed in {HERMES_VENV}:\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return hermes_bin


def _tool_messages(body: dict) -> list[str]:
    return [str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"]


def _tool_result(text: str) -> dict:
    """The JSON robe's tool returned, out of the wrapping Hermes puts around an MCP tool's result
    (an <untrusted_tool_result> block holding {"result": "<the tool's text>"})."""
    outer = json.loads(text[text.index("{"):text.rindex("}") + 1])
    return json.loads(outer["result"]) if isinstance(outer.get("result"), str) else outer


def _read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def script(body: dict) -> dict:
    """ezra's model: add a follow-up task, ask allegro, then answer with what allegro said."""
    names = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    if "mcp__robe__ask_wizard" not in names:
        return {"content": "No robe tools here."}
    done = _tool_messages(body)
    if not done:
        return {"tool": "mcp__robe__add_task",
                "arguments": {"title": "Archive the rotation answer", "assignee": "allegro", "tags": ["follow-up"],
                              "body": "File allegro's answer with the gateway notes."}}
    if len(done) == 1:
        return {"tool": "mcp__robe__ask_wizard",
                "arguments": {"wizard": "allegro", "question": f"How many days of gateway logs do we keep? {MARKER}",
                              "wait_seconds": 120}}
    return {"content": "Allegro answered: " + done[-1]}


def _fleet(tmp_path, base_url: str):
    doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, "wizards": {
        "ezra": {"port": 0, "timeout": 300, "gateway": None,
                 "agent": {"kind": "hermes", "model": "stub-model", "base_url": base_url, "context_length": 131072,
                           "config": {"agent": {"environment_probe": False}, "security": {"tirith_enabled": False}}}},
        "allegro": {"port": 0, "agent": "echo", "gateway": None}}}
    for w in doc["wizards"].values():
        w["port"] = free_port()
    path = tmp_path / "fleet.yaml"
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    fleet = load_fleet(str(path))
    for w in fleet.wizards:
        # As robe wizard create does: robe's MCP server in ezra's config.yaml, acting as ezra.
        ensure_house(fleet, w, mcp_command=robe_command())
    with open(fleet.wizard("ezra").queue, "w", encoding="utf-8") as f:
        f.write("# Ezra\n\n### TASK-001: Find out how long we keep the gateway logs\n- Status: PENDING\n\n"
                "Ask allegro, and note a follow-up for archiving the answer.\n")
    return fleet


def _wait(check, timeout: float, what: str, log):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log()}")


def test_ezras_hermes_adds_a_task_asks_allegro_and_completes_with_the_answer(hermes_mcp_bin, tmp_path):
    with ToolModel(script) as model:
        fleet = _fleet(tmp_path, model.base_url)
        entry = yaml.safe_load(_read(fleet.wizard("ezra").config_file))["mcp_servers"]["robe"]
        assert entry["args"][-2:] == ["--as", "ezra"]
        env = dict(os.environ, ROBE_FLEET=fleet.path, ROBE_HERMES=hermes_mcp_bin, HOME=str(tmp_path / "home"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        log_path = tmp_path / "run.log"
        with open(log_path, "wb") as log:
            run = subprocess.Popen([ROBE, "run", "-v"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                   cwd=str(tmp_path), start_new_session=True)

        def logs() -> str:
            out = log_path.read_text(errors="replace")[-4000:]
            for name in ("ezra", "allegro"):
                p = os.path.join(fleet.wizard(name).house, "logs", "cron.log")
                if os.path.exists(p):
                    out += f"\n--- {name} cron.log\n" + _read(p)[-3000:]
            return out + f"\n--- model requests: {len(model.requests)}"

        try:
            def ezra_done():
                t = load(fleet.wizard("ezra").queue).get("TASK-001")
                return t.status in (Status.COMPLETE, Status.FAILED)
            _wait(ezra_done, 280, "ezra's TASK-001 to finish", logs)
        finally:
            run.terminate()
            run.wait(60)
        requests = list(model.requests)

    ezra_q = load(fleet.wizard("ezra").queue)
    assert ezra_q.get("TASK-001").status is Status.COMPLETE, logs()
    # add_task: the follow-up is in allegro's queue file (the assignee's), written in its style.
    allegro_text = _read(fleet.wizard("allegro").queue)
    allegro_q = load(fleet.wizard("allegro").queue)
    follow = next(t for t in allegro_q.tasks if t.title == "Archive the rotation answer")
    assert follow.tags == ("follow-up",) and follow.assignee == "allegro"
    assert "File allegro's answer with the gateway notes." in allegro_text
    # ask_wizard: a question in allegro's queue, asked by ezra from inside TASK-001, answered.
    asked = next(t for t in allegro_q.tasks if ask_of(t) is not None)
    assert ask_of(asked).asked_by == "ezra" and ask_of(asked).task == "TASK-001"
    assert asked.status is Status.COMPLETE and MARKER in asked.body
    # Allegro's answer came back into ezra's conversation ...
    tools_sent = {t["function"]["name"] for t in requests[0]["body"].get("tools", [])}
    assert {"mcp__robe__add_task", "mcp__robe__ask_wizard", "mcp__robe__inbox"} <= tools_sent
    final = next(r["body"] for r in requests if len(_tool_messages(r["body"])) == 2)
    returned = _tool_result(_tool_messages(final)[1])
    assert returned["answered"] is True and returned["status"] == "COMPLETE"
    assert "echo agent of wizard allegro" in returned["answer"] and MARKER in returned["answer"]
    # ... and ezra's task completed with it.
    answer = _read(os.path.join(fleet.wizard("ezra").house, "completed", "archive", "TASK-001.1.txt"))
    assert answer.startswith("Allegro answered: ") and MARKER in answer and "echo agent of wizard allegro" in answer
    # The answer is filed in ezra's inbox, read (ezra took it while it waited).
    inbox = os.path.join(fleet.wizard("ezra").house, "inbox")
    assert os.listdir(os.path.join(inbox, "read")) == [f"allegro.{asked.id}.1.json"]
    assert [n for n in os.listdir(inbox) if n.endswith(".json")] == []
