"""A local HTTP server that answers list and watch requests with bytes recorded from a real
kube-apiserver v1.36.2 (tests/fixtures/apiserver/list and watch). It stands in for the
cluster, which cannot run here; the client, sockets and HTTP framing are real.

Per collection path it plays a script: each list answers the recorded list; the first watch
streams the recorded events (one chunk per event, as kube-apiserver does) and ends (or, for a
live script, stays open and streams the events a test pushes); the second
answers the recorded 410 "too old resource version" ERROR event; later watches stay open
without events until the client goes away. A script with `paginate` answers lists that ask for
a `limit` in pages, with `continue` tokens, as kube-apiserver does.

Paths without a script behave as kube-apiserver's REST storage for the objects a test writes
(Leases, policy reports): POST creates (409 AlreadyExists), GET reads an object or lists a
collection, PUT replaces only at the stored resourceVersion (409 Conflict otherwise), a PATCH
of type application/apply-patch+yaml (server-side apply) creates or replaces, DELETE removes.
Every write is recorded in `writes`.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
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
    paginate: bool = False  # answer `limit` with pages and `continue` tokens

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
        self.objects: dict[str, dict] = {}  # object path -> object, for paths without a script
        self.writes: list[tuple[str, str, dict | None]] = []  # (method, path, body)
        self.lock = threading.Lock()
        self._versions = itertools.count(1000)
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
                    self._send(*server.read(url.path))
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
                    self._send(200, _page(script, params))
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

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_PATCH(self) -> None:
                url = urlsplit(self.path)
                collection, _, name = url.path.rpartition("/")
                script = server.scripts.get(collection)
                body = self._body()
                if script is None:
                    kind = self.headers.get("Content-Type", "")
                    self._send(*server.write("PATCH", url.path, body, kind))
                    return
                script.patches.append((name, body))
                self._send(200, b"{}")

            def do_POST(self) -> None:
                self._send(*server.write("POST", urlsplit(self.path).path, self._body()))

            def do_PUT(self) -> None:
                self._send(*server.write("PUT", urlsplit(self.path).path, self._body()))

            def do_DELETE(self) -> None:
                self._send(*server.write("DELETE", urlsplit(self.path).path, self._body()))

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

    # --- REST storage for the objects tests write -------------------------------------------
    def read(self, path: str) -> tuple[int, bytes]:
        with self.lock:
            if path in self.objects:
                return 200, json.dumps(self.objects[path]).encode()
            items = [o for p, o in sorted(self.objects.items()) if p.rpartition("/")[0] == path]
        if items or _is_collection(path):
            return 200, json.dumps({"kind": "List", "metadata": {}, "items": items}).encode()
        return 404, _status(404, "NotFound", f"{path} not found")

    def write(self, method: str, path: str, body: bytes, content_type: str = "") -> tuple[int, bytes]:
        document = json.loads(body) if body else None
        with self.lock:
            self.writes.append((method, path, document))
            if method == "POST":
                target = f"{path}/{document['metadata']['name']}"
                if target in self.objects:
                    return 409, _status(409, "AlreadyExists", f"{target} already exists")
                return 201, self._store(target, document, None)
            current = self.objects.get(path)
            if method == "DELETE":
                if current is None:
                    return 404, _status(404, "NotFound", f"{path} not found")
                del self.objects[path]
                return 200, _status(200, "", "deleted")
            if method == "PATCH" and content_type == "application/apply-patch+yaml":
                return (200 if current else 201), self._store(path, document, current)
            if method != "PUT":
                return 415, _status(415, "UnsupportedMediaType", content_type)
            if current is None:
                return 404, _status(404, "NotFound", f"{path} not found")
            given = (document.get("metadata") or {}).get("resourceVersion")
            if given != current["metadata"]["resourceVersion"]:
                message = (
                    f"Operation cannot be fulfilled on {path}: the object has been modified; "
                    "please apply your changes to the latest version and try again"
                )
                return 409, _status(409, "Conflict", message)
            return 200, self._store(path, document, current)

    def _store(self, path: str, document: dict, current: dict | None) -> bytes:
        meta = document.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        meta["uid"] = current["metadata"]["uid"] if current else str(uuid.uuid4())
        self.objects[path] = document
        return json.dumps(document).encode()


def _is_collection(path: str) -> bool:
    """Whether `path` has the shape of a collection (`/api/v1/pods`,
    `/apis/apps/v1/namespaces/x/deployments`): one the fake holds nothing of lists as empty."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        return len(parts) == 3 or (len(parts) == 5 and parts[2] == "namespaces")
    return parts[0] == "apis" and (len(parts) == 4 or (len(parts) == 6 and parts[3] == "namespaces"))


def _status(code: int, reason: str, message: str) -> bytes:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    return json.dumps({**status, "reason": reason, "message": message}).encode()


def _page(script: Script, params: dict[str, list[str]]) -> bytes:
    """The list, or the page of it a `limit` and `continue` ask for."""
    limit = int(params.get("limit", ["0"])[0])
    if not script.paginate or not limit:
        return script.list_body
    document = json.loads(script.list_body)
    start = int(params.get("continue", ["0"])[0])
    items = document.get("items") or []
    document["items"] = items[start : start + limit]
    if start + limit < len(items):
        document["metadata"]["continue"] = str(start + limit)
        document["metadata"]["remainingItemCount"] = len(items) - start - limit
    return json.dumps(document).encode()
