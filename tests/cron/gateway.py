"""A stand-in gateway (or shared service) for the self-monitor tests: an HTTP server on
127.0.0.1 answering 200 on every path. ``python gateway.py PORT`` (default: $ROBE_PORT)."""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["ROBE_PORT"])
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
