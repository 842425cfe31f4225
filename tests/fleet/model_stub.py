"""A tiny OpenAI-compatible model server on 127.0.0.1, for tests of agents and gateways.

It answers ``GET /v1/models``, ``POST /v1/chat/completions`` (plain and ``stream: true``)
with a fixed reply and the OpenAI ``usage`` of ``stub.usage`` (set it to report other counts, or
a ``cost`` as OpenRouter does), and records every request (body and headers), so a test can see
what an agent sent. With ``key=...`` it answers 401 to a request without that Bearer key.
Use it in-process::

    with ModelStub(reply="done") as stub:
        base_url = stub.base_url      # http://127.0.0.1:PORT/v1
        ...
        stub.requests                 # list of decoded JSON bodies

or as a process: ``python model_stub.py PORT [REPLY]``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "stub-model"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub: "ModelStub"

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refused(self) -> bool:
        """With a key set, a request without ``Authorization: Bearer <key>`` gets 401."""
        if self.stub.key and self.headers.get("Authorization") != f"Bearer {self.stub.key}":
            self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
            return True
        return False

    def do_GET(self):
        self.stub.gets.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            if self._refused():
                return
            entry = {"id": self.stub.model, "object": "model", "created": 0, "owned_by": "robe-tests"}
            if self.stub.context_length is not None:
                entry["context_length"] = self.stub.context_length
            self._send(200, {"object": "list", "data": [entry]})
        elif self.path in ("/", "/health", "/v1"):
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        self.stub.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if self._refused():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        status = self.stub.status
        if status != 200:
            self._send(status, {"error": {"message": f"stub says {status}", "type": "stub"}})
            return
        reply = self.stub.reply
        created = int(time.time())
        usage = dict(self.stub.usage)
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            chunks = [
                {"role": "assistant", "content": ""},
                {"content": reply},
            ]
            for delta in chunks:
                event = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                         "model": body.get("model", MODEL),
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            final = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                     "model": body.get("model", MODEL),
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
            self.wfile.write(b"data: " + json.dumps(final).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, {
            "id": "chatcmpl-stub", "object": "chat.completion", "created": created,
            "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": usage,
        })

    def log_message(self, fmt, *args):
        pass


class ModelStub:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread."""

    def __init__(self, reply: str = "stub reply", port: int = 0, *, key: str | None = None, model: str = MODEL,
                 context_length: int | None = 131072):
        self.reply = reply
        self.status = 200
        #: a key the client must send as "Authorization: Bearer <key>" (None: any or none)
        self.key = key
        #: the one model /v1/models lists, and the context length it says it has (None: says nothing)
        self.model = model
        self.context_length = context_length
        self.usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        self.requests: list[dict] = []
        self.gets: list[dict] = []
        handler = type("Handler", (_Handler,), {"stub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, name="model-stub", daemon=True)

    def start(self) -> "ModelStub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "ModelStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    stub = ModelStub(reply=sys.argv[2] if len(sys.argv) > 2 else "stub reply", port=int(sys.argv[1]))
    print(f"model stub on {stub.base_url}", flush=True)
    try:
        stub.server.serve_forever()
    except KeyboardInterrupt:
        pass

