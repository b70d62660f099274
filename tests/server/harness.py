"""A real `admit serve` in a subprocess, on 127.0.0.1 with real TLS, and a keep-alive client."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admit.kube.certs import make_ca, make_serving_cert, write_pair

ROOT = Path(__file__).resolve().parent.parent.parent

HEADERS = {  # what kube-apiserver v1.36.2 sends, in its order (see the fixtures' README)
    "User-Agent": "kube-apiserver-admission",
    "Accept": "application/json, */*",
    "Content-Type": "application/json",
    "Accept-Encoding": "gzip",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TLS:
    ca: Path
    cert: Path
    key: Path

    def client_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if alpn:
            context.set_alpn_protocols(alpn)
        return context


def make_tls(directory: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TLS:
    ca = make_ca()
    ca_cert, _ = write_pair(ca, directory, "ca")
    cert, key = write_pair(make_serving_cert(ca, list(names)), directory, "tls")
    return TLS(ca_cert, cert, key)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive HTTPS connection, like kube-apiserver's."""

    def __init__(self, port: int, tls: TLS, alpn: list[str] | None = None) -> None:
        self.connection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=tls.client_context(alpn), timeout=15
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        self.connection.request(method, path, body=body, headers=headers or HEADERS)
        r = self.connection.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())

    def post(self, path: str, body: bytes | dict[str, Any]) -> Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("POST", path, data)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def once(port: int, tls: TLS, method: str, path: str, body: bytes | None = None) -> Response:
    """One request on a fresh connection, closed afterwards."""
    with Client(port, tls) as client:
        return client.request(method, path, body)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    tls: TLS
    log: Path
    decisions: Path
    clients: list[Client] = field(default_factory=list)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, alpn: list[str] | None = None) -> Client:
        c = Client(self.port, self.tls, alpn)
        self.clients.append(c)
        return c

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        for c in self.clients:
            c.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stderr(self) -> str:
        return self.log.read_text()

    def worker_pids(self) -> list[int]:
        """Pids of the workers started so far, from the supervisor's log."""
        return [int(line.split("worker ")[1].split()[0]) for line in
                self.stderr().splitlines() if "started (slot" in line]  # fmt: skip

    def wait_for_log(self, text: str, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def start_server(
    bundle: Path | None,
    tmp: Path,
    *args: str,
    workers: int = 2,
    tls: TLS | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start `admit serve` and wait until it answers /healthz: two workers unless a test says
    why it needs one (production runs one per core)."""
    tls = tls or make_tls(tmp)
    port = free_port()
    log = tmp / f"serve-{port}.log"
    decisions = tmp / f"decisions-{port}.jsonl"
    command = [
        sys.executable, "-m", "admit", "serve", *([str(bundle)] if bundle else []),
        "--host", "127.0.0.1", "--port", str(port),
        "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
        "--workers", str(workers), "--decision-log", str(decisions),
        "--metrics-dir", str(tmp / f"metrics-{port}"), *args,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMIT_")} | (env or {})
    with log.open("wb") as err:
        process = subprocess.Popen(command, stdout=err, stderr=err, env=env, cwd=ROOT)
    server = Server(process, port, tls, log, decisions)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"admit serve exited {process.returncode}:\n{log.read_text()}")
        try:
            probe = Client(port, tls)
            ok = probe.request("GET", "/healthz").status == 200
            probe.close()
            if ok:
                return server
        except OSError:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"admit serve did not come up:\n{log.read_text()}")
