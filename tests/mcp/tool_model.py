"""A scripted OpenAI-compatible model on 127.0.0.1 that answers with tool calls.

The stand-in for the language model, and the only one in these tests: the agent (the real
Hermes), robe's MCP server and robe's processes are real. ``script(request)`` gets each chat
request's JSON body and returns either ``{"content": text}`` or ``{"tool": name, "arguments":
{...}}``; the reply goes out plain or streamed, whichever the agent asked for. Every request
is recorded in ``requests``.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from ..fleet.model_stub import MODEL, ModelStub, _Handler


def _message(reply: dict, n: int) -> dict:
    if "tool" in reply:
        return {"role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{n}", "type": "function",
                                "function": {"name": reply["tool"], "arguments": json.dumps(reply["arguments"])}}]}
    return {"role": "assistant", "content": reply["content"]}


def _deltas(reply: dict, n: int) -> list[dict]:
    if "tool" in reply:
        return [{"role": "assistant", "content": None,
                 "tool_calls": [{"index": 0, "id": f"call_{n}", "type": "function",
                                 "function": {"name": reply["tool"], "arguments": ""}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(reply["arguments"])}}]}]
    return [{"role": "assistant", "content": ""}, {"content": reply["content"]}]


class _ToolHandler(_Handler):
    stub: "ToolModel"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        self.stub.requests.append({"path": self.path, "body": body})
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        n = len(self.stub.requests)
        reply = self.stub.script(body)
        finish = "tool_calls" if "tool" in reply else "stop"
        base = {"id": f"chatcmpl-{n}", "created": int(time.time()), "model": body.get("model", MODEL)}
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not body.get("stream"):
            self._send(200, {**base, "object": "chat.completion", "usage": usage,
                             "choices": [{"index": 0, "message": _message(reply, n), "finish_reason": finish}]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = [{"index": 0, "delta": d, "finish_reason": None} for d in _deltas(reply, n)]
        chunks.append({"index": 0, "delta": {}, "finish_reason": finish})
        for i, choice in enumerate(chunks):
            event = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            if i == len(chunks) - 1:
                event["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class ToolModel(ModelStub):
    """An OpenAI-compatible server whose replies come from ``script``."""

    def __init__(self, script: Callable[[dict], dict], port: int = 0):
        super().__init__(port=port)
        self.script = script
        self.server.RequestHandlerClass = type("Handler", (_ToolHandler,), {"stub": self})
