"""A loopback HTTP server of a folder whose files can be made to misbehave, as a remote shard store would."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import Any

FAULTS = ("stall", "stall_headers", "trickle", "close", "404", "500")


class ShardServer:
    """Serves ``folder`` at ``url``. ``faults[path] = kind`` (one of :data:`FAULTS`) makes one file
    misbehave; ``bodies[path] = bytes`` serves other bytes under its name (a swapped or mutated file).
    ``hits[path]`` counts the requests for each path."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.faults: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None: ...

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                server.answer(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reset(self) -> None:
        self.faults.clear()
        self.bodies.clear()
        self.hits.clear()

    def answer(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path.lstrip("/").split("?", 1)[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        fault = self.faults.get(path, "")
        if fault == "stall_headers":  # accepts the connection, never answers
            self.stop.wait(120)
            return
        if fault in ("404", "500"):
            h.send_error(int(fault))
            return
        body = self.bodies.get(path)
        if body is None:
            file = self.folder / path
            if ".." in path or not file.is_file():
                h.send_error(404)
                return
            body = file.read_bytes()
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        half = len(body) // 2
        if fault == "stall":  # half the body, then nothing
            h.wfile.write(body[:half])
            h.wfile.flush()
            self.stop.wait(120)
        elif fault == "close":  # half the body, then the connection closes
            h.wfile.write(body[:half])
        elif fault == "trickle":  # a few bytes at a time, slower than any useful link
            for i in range(0, len(body), 8):
                if self.stop.is_set():
                    return
                h.wfile.write(body[i : i + 8])
                h.wfile.flush()
                time.sleep(0.1)
        else:
            h.wfile.write(body)

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
