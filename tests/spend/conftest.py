"""Fixtures for spend, budgets and alerts: fleets of real agents (a command agent that reports its
usage, the openai agent against the loopback model stub, the real Hermes), a webhook receiver
and a command that record every alert they get."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from robe import Fleet
from robe.fleet.homes import ensure_house

from ..support import free_port

#: a command agent: reports TOKENS (input TOKENS-100, output 100) and COST in $ROBE_USAGE_FILE,
#: then answers; exits with EXIT
USAGE_AGENT = """\
import json, os, sys
tokens, cost, code = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
with open(os.environ["ROBE_USAGE_FILE"], "w") as f:
    json.dump({"input_tokens": tokens - 100, "output_tokens": 100, "total_tokens": tokens, "cost_usd": cost}, f)
print("done:", os.environ["ROBE_TASK_ID"])
sys.exit(code)
"""

#: a command alert receiver: appends {"argv", "stdin", "kind"} as a line to the file in argv[1]
ALERT_COMMAND = """\
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"argv": sys.argv[2:], "stdin": sys.stdin.read(), "kind": os.environ.get("ROBE_ALERT_KIND")}) + "\\n")
"""


def queue_text(wizard: str, n: int, first: int = 1) -> str:
    lines = ["# Work queue", "", "## P1", ""]
    for i in range(first, first + n):
        lines += [f"### TASK-{i:03d}: Task {i}", "- Status: PENDING", f"- Assignee: {wizard}", "",
                  f"Do task {i}.", ""]
    return "\n".join(lines)


class FleetFiles:
    """fleet.yaml (JSON, which is YAML) and each wizard's house and queue in ``root``."""

    def __init__(self, root):
        self.root = str(root)
        self.path = os.path.join(self.root, "fleet.yaml")
        self.doc: dict = {}

    def __call__(self, wizards: dict, *, tasks: int = 3, **top) -> Fleet:
        doc = {"root": ".", "ports": {"first": 1024, "last": 65535}, "wizards": {}}
        doc.update(top)
        for name, settings in wizards.items():
            entry = {"port": free_port(), "agent": "echo", "gateway": None}
            entry.update(settings)
            doc["wizards"][name] = entry
        self.doc = doc
        self.write()
        fleet = Fleet.load(self.path)
        for w in fleet.wizards:
            ensure_house(fleet.config, w)
            with open(w.queue, "w") as f:
                f.write(queue_text(w.name, tasks))
        return fleet

    def write(self) -> None:
        with open(self.path, "w") as f:
            json.dump(self.doc, f, indent=1)


@pytest.fixture
def fleet_files(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    return FleetFiles(tmp_path)


@pytest.fixture
def usage_agent(tmp_path):
    """argv of a command agent reporting ``tokens`` and ``cost`` in its usage file."""
    script = tmp_path / "usage_agent.py"
    script.write_text(USAGE_AGENT)

    def argv(tokens: int = 600, cost: float = 0.25, code: int = 0) -> dict:
        return {"kind": "command", "argv": [sys.executable, str(script), str(tokens), str(cost), str(code)]}
    return argv


@pytest.fixture
def alert_command(tmp_path):
    """(argv for alerts.command, a function reading what it got)."""
    script = tmp_path / "alert_command.py"
    script.write_text(ALERT_COMMAND)
    got = tmp_path / "alerts-got.jsonl"

    def received() -> list[dict]:
        if not got.exists():
            return []
        return [json.loads(line) for line in got.read_text().splitlines()]
    return [sys.executable, str(script), str(got), "{kind}", "{text}"], received


class Receiver:
    """A webhook on 127.0.0.1 that records each JSON body; the first ``failures`` requests get 503."""

    def __init__(self, port: int = 0, failures: int = 0):
        self.bodies: list[dict] = []
        self.failures = failures
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                status = 503 if receiver.requests <= receiver.failures else 200
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def cycle(fleet: Fleet, wizards=None) -> None:
    """One round of the loop, in this process: dispatch, run the claims, fold the results."""
    fleet.dispatch(wizards, gateway=False)
    fleet.execute_once(wizards)
    fleet.monitor(wizards, bare_grace=0.0)


def outcomes(w) -> list[dict]:
    """Every result outcome in the wizard's house, current and archived."""
    out = []
    for folder in (os.path.join(w.house, "completed"), os.path.join(w.house, "completed", "archive")):
        if os.path.isdir(folder):
            for n in sorted(os.listdir(folder)):
                if n.endswith(".json"):
                    with open(os.path.join(folder, n)) as f:
                        out.append(json.load(f))
    return out
