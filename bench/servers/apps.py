"""Minimal "ceiling" webhook apps: no framework, just parse the AdmissionReview and allow it.

`asgi_app` is a raw ASGI 3 app (uvicorn, hypercorn, granian --interface asgi);
`rsgi_app` is the same thing on granian's RSGI interface (granian --interface rsgi).
Both read the whole body, parse it with orjson, and answer
{"apiVersion": <same>, "kind": "AdmissionReview",
 "response": {"uid": <request.uid>, "allowed": true}}.
"""

from __future__ import annotations

from typing import Any

import orjson

_HEADERS_ASGI = [(b"content-type", b"application/json")]
_HEADERS_RSGI = [("content-type", "application/json")]


def review(body: bytes) -> bytes:
    doc = orjson.loads(body)
    return orjson.dumps(
        {
            "apiVersion": doc.get("apiVersion", "admission.k8s.io/v1"),
            "kind": "AdmissionReview",
            "response": {"uid": doc["request"]["uid"], "allowed": True},
        }
    )


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        out = review(body)
        status = 200
    except Exception:
        out, status = b'{"error":"bad AdmissionReview"}', 400
    headers = [*_HEADERS_ASGI, (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


class RSGIApp:
    """granian RSGI app: `await protocol()` returns the whole body."""

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        try:
            body = await protocol()
        except RuntimeError:  # granian.rsgi.ProtocolClosed: the client went away mid-request
            return
        try:
            out = review(body)
            status = 200
        except Exception:
            out, status = b'{"error":"bad AdmissionReview"}', 400
        protocol.response_bytes(status, _HEADERS_RSGI, out)


rsgi_app = RSGIApp()
