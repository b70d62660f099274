"""Local HTTP services the server talks to, on 127.0.0.1 in a thread: a decision-log receiver
(as a log pipeline behind OPA's decision log plugin) and a bundle server (as nginx or S3 serve
OPA bundles, with ETags)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import threading
import time
from typing import Any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _Served:
    """A server on 127.0.0.1:`port` in a thread, which can stop and start again on that port."""

    port: int
    _server: _Server | None = None

    def _serve(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._server = _Server(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class LogReceiver(_Served):
    """Receives decision-log uploads (gzip JSON arrays) on a port that survives restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/logs"
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []  # the headers of each upload
        self._lock = threading.Lock()

    def start(self) -> LogReceiver:
        receiver = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events = json.loads(gzip.decompress(body))
                with receiver._lock:
                    receiver.events.extend(events)
                    receiver.requests.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

        self._serve(Handler)
        return self

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.05)
        with self._lock:
            return list(self.events)


class BundleHost(_Served):
    """Serves one bundle tarball at /bundles/<name>.tar.gz with a content ETag, answering 304
    to a matching If-None-Match; counts requests and remembers their headers."""

    def __init__(self, port: int, name: str = "authz", *, etags: bool = True) -> None:
        self.port = port
        self.etags = etags  # some servers send none: every poll then downloads the tarball
        self.url = f"http://127.0.0.1:{port}/bundles/{name}.tar.gz"
        self.path = f"/bundles/{name}.tar.gz"
        self.tarball = b""
        self.requests: list[dict[str, str]] = []

    def publish(self, tarball: bytes) -> None:
        self.tarball = tarball

    def start(self) -> BundleHost:
        host = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                host.requests.append(dict(self.headers))
                if self.path != host.path or not host.tarball:
                    self.send_response(404)
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha256(host.tarball).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(host.tarball)))
                if host.etags:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(host.tarball)

        self._serve(Handler)
        return self
