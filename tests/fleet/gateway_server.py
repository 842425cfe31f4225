"""A stand-in gateway for tests: an HTTP server on 127.0.0.1 that answers /health.

Run as ``python gateway_server.py [PORT]`` (default: $ROBE_PORT, which 'robe gateway start'
sets). /health answers 200 with JSON naming the HERMES_HOME it was started with, so a test
can see that robe passed the wizard's home. ``--ignore-sigint`` makes it survive SIGINT, to
exercise the SIGKILL fallback of 'robe gateway stop'.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = json.dumps({"status": "ok", "hermes_home": os.environ.get("HERMES_HOME"),
                               "pid": os.getpid()}).encode()
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("gateway_server: " + fmt % args + "\n")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if "--ignore-sigint" in argv:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    port = int(args[0]) if args else int(os.environ["ROBE_PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"gateway_server listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("gateway_server: SIGINT, stopping cleanly", flush=True)
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
