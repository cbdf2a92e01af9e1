"""Helpers of the alerts' tests: a local webhook receiver (the ``receiver`` fixture of
``conftest``) whose URL carries a Slack-like secret that must never leave the channel."""

import http.server
import json
import threading
from typing import Any

#: A Slack-like secret in the webhook's path: it must never leave the channel.
SECRET = "T000/B000/XXXXsecretTOKEN"


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread: the JSON bodies it got, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
