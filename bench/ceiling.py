"""The ceiling for `bench_server.py`: the same server stack as `admit serve` (supervisor, shared
socket, uvicorn with uvloop + httptools and the header deadline, the same TLS context) running
an app that only parses the AdmissionReview and answers a fixed allow.

    python bench/ceiling.py --port 9443 --workers 1 --tls-cert tls.crt --tls-key tls.key
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from admit.server import worker as worker_module
from admit.server.config import ServerConfig
from admit.server.policies import FixedPolicies
from admit.server.supervisor import Supervisor

HEADERS = [(b"content-type", b"application/json")]


async def allow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    review = orjson.loads(b"".join(chunks))
    body = orjson.dumps(
        {
            "apiVersion": review["apiVersion"],
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }
    )
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _CeilingApp:
    """Stands in for AdmitApp inside admit's own worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def install_deadline(self) -> None:
        pass

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await allow_app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tls-cert", type=Path, required=True)
    parser.add_argument("--tls-key", type=Path, required=True)
    args = parser.parse_args()
    worker_module.AdmitApp = _CeilingApp  # type: ignore[misc,assignment]
    config = ServerConfig(
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        decision_log=None,
    )
    sock = worker_module.listening_socket(config.host, config.port)
    sys.exit(Supervisor(config, sock, lambda transform: FixedPolicies(None)).run())


if __name__ == "__main__":
    main()
