"""A local HTTP server that answers list and watch requests with bytes recorded from a real
kube-apiserver v1.36.2 (tests/fixtures/apiserver/list and watch). It stands in for the
cluster, which cannot run here; the client, sockets and HTTP framing are real.

Per collection path it plays a script: each list answers the recorded list; the first watch
streams the recorded events (one chunk per event, as kube-apiserver does) and ends (or, for a
live script, stays open and streams the events a test pushes); the second
answers the recorded 410 "too old resource version" ERROR event; later watches stay open
without events until the client goes away.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apiserver"
GONE_EVENT = (FIXTURES / "watch" / "configmaps-too-old-resourceversion-410.jsonl").read_bytes()


@dataclass
class Script:
    list_body: bytes
    watch_events: list[bytes]
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    watches: int = 0
    lists: int = 0
    fail_next: int = 0  # answer that many requests with 500 first
    patches: list[tuple[str, bytes]] = field(default_factory=list)
    event_gap: float = 0.02  # seconds between recorded events
    live: bool = False  # the first watch stays open and streams what `push` sends
    pushed: queue.Queue[bytes] = field(default_factory=queue.Queue)

    def push(self, event: bytes) -> None:
        """Send a watch event (one JSON line) on the open watch of a live script."""
        self.pushed.put(event)


def recorded(list_file: str, watch_file: str) -> Script:
    events = (FIXTURES / "watch" / watch_file).read_bytes().splitlines(keepends=True)
    return Script((FIXTURES / "list" / list_file).read_bytes(), events)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hang up on open watches; that is expected here


class FakeAPIServer:
    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.stopping = threading.Event()
        handler = self._handler()
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeAPIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: fake\n  user:\n    token: not-checked\n"
            "contexts:\n- name: fake\n  context: {cluster: fake, user: fake}\n"
        )
        return path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                script = server.scripts.get(url.path)
                if script is None:
                    self._send(404, b'{"kind":"Status","code":404}')
                    return
                params = parse_qs(url.query)
                script.requests.append(params)
                script.headers.append(dict(self.headers))
                if script.fail_next:
                    script.fail_next -= 1
                    self._send(500, b'{"kind":"Status","code":500,"message":"boom"}')
                    return
                if params.get("watch") != ["1"]:
                    script.lists += 1
                    self._send(200, script.list_body)
                    return
                script.watches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    if script.watches == 1:
                        for event in script.watch_events:
                            self._chunk(event)
                            time.sleep(script.event_gap)
                        while script.live and not server.stopping.is_set():
                            try:
                                self._chunk(script.pushed.get(timeout=0.1))
                            except queue.Empty:
                                continue
                    elif script.watches == 2:
                        self._chunk(GONE_EVENT)
                    else:
                        server.stopping.wait(2)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PATCH(self) -> None:
                url = urlsplit(self.path)
                collection, _, name = url.path.rpartition("/")
                script = server.scripts.get(collection)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if script is None:
                    self._send(404, b'{"kind":"Status","code":404}')
                    return
                script.patches.append((name, body))
                self._send(200, b"{}")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
