"""The fleet tests' OpenAI-compatible model stub (tests/fleet/model_stub.py), loaded by path,
with two additions for the executor: scripted status codes and recorded headers."""

from __future__ import annotations

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fleet", "model_stub.py")
_spec = importlib.util.spec_from_file_location("robe_tests_model_stub", _PATH)
model_stub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_stub)


class Stub(model_stub.ModelStub):
    """``statuses``: the status of each next chat request (then 200); ``headers``: what came."""

    def __init__(self, reply: str = "stub reply", port: int = 0, statuses=()):
        super().__init__(reply=reply, port=port)
        self.statuses = list(statuses)
        self.headers: list[dict] = []
        stub = self
        base = self.server.RequestHandlerClass

        def do_POST(handler):
            stub.headers.append(dict(handler.headers))
            base.do_POST(handler)

        self.server.RequestHandlerClass = type("RecordingHandler", (base,), {"do_POST": do_POST})

    @property
    def status(self) -> int:
        return self.statuses.pop(0) if getattr(self, "statuses", None) else 200

    @status.setter
    def status(self, value: int) -> None:
        pass
