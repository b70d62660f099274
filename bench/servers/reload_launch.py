"""Serve apps.asgi_app with uvicorn or hypercorn, keeping the live ssl.SSLContext reachable.

    python reload_launch.py uvicorn|hypercorn PORT CERT KEY

`POST /reload-cert` calls `load_cert_chain(CERT, KEY)` again on the very SSLContext the server
accepts with: new handshakes then use the new certificate, without a restart. (A real webhook
would do this from a file watch or a timer, in every worker.) Used by probe_limits.py.
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

from apps import asgi_app

KIND, PORT, CERT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
live: dict[str, ssl.SSLContext] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/reload-cert":
        live["ctx"].load_cert_chain(CERT, KEY)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await asgi_app(scope, receive, send)


def run_uvicorn() -> None:
    import uvicorn

    def factory(config: Any, default: Any) -> ssl.SSLContext:
        # uvicorn.Config(ssl_context_factory=...): we get the context it will serve with
        live["ctx"] = default()
        return live["ctx"]

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=PORT,
        ssl_certfile=CERT,
        ssl_keyfile=KEY,
        ssl_context_factory=factory,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


def run_hypercorn() -> None:
    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    class KeepContext(Config):
        # hypercorn.asyncio.run.worker_serve calls config.create_ssl_context() once
        def create_ssl_context(self) -> ssl.SSLContext | None:
            ctx = super().create_ssl_context()
            if ctx is not None:
                live["ctx"] = ctx
            return ctx

    config = KeepContext()
    config.bind = [f"127.0.0.1:{PORT}"]
    config.certfile, config.keyfile = CERT, KEY
    config.loglevel = "WARNING"
    uvloop.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    {"uvicorn": run_uvicorn, "hypercorn": run_hypercorn}[KIND]()
