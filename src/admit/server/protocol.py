"""uvicorn's httptools protocol with a deadline for each whole request and a cap on its head.

uvicorn bounds idle keep-alive time but not a client that opens a connection and then sends its
headers or body slowly or never (slowloris). This protocol gives every request `timeout`
seconds from the connection's start (or the request's first byte) to its last byte: past it, a
request whose headers arrived is answered 408 and the connection closed; otherwise the
connection is just closed. Enforcing it here costs one timer per request, where an
`asyncio.timeout` around the app's body read cost ~7 µs. The URL and headers together are
capped at 64 KiB (httptools alone buffers any size): past it the request is answered 414 or 431
at once and the connection closed, unread. Each request's first byte marks the connection
active for its gate, and `is_idle` tells the gate whether a request is in progress, so that a
worker at its connection limit closes an idle connection, never a busy one. It also releases a
connection that the client reset at once (uvicorn leaves its keep-alive timer holding it).
Depends on `HttpToolsProtocol`'s hooks and state (`url`, `scope`, `cycle.scope`,
`cycle.response_started`, `cycle.response_complete`, `_unset_keepalive_if_required`); tests pin
the behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _response(status: bytes, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 JSON error response that closes the connection."""
    body = b'{"code":"%s","message":"%s"}' % (code.encode(), message.encode())
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )


_TIMEOUT_RESPONSE = _response(
    b"408 Request Timeout",
    "request_timeout",
    "the request did not arrive within the client timeout",
)
_HEADERS_TOO_LARGE = _response(
    b"431 Request Header Fields Too Large",
    "headers_too_large",
    "the request URL and headers exceed 64 KiB",
)
_URL_TOO_LONG = _response(b"414 URI Too Long", "url_too_long", "the request URL exceeds 64 KiB")
MAX_HEADER_BYTES = 64 * 1024  # URL and headers: kube-apiserver sends a short path, six headers


def _nothing() -> None:
    return None


class _OneWrite:
    """A request's view of its connection that sends a response's head with its body: uvicorn
    writes them apart, which over TLS is two records and two system calls. Everything else
    passes through (a `100 Continue` is written at once)."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""

    def write(self, data: bytes) -> None:
        if not self._head and data[:9] == b"HTTP/1.1 " and data[9:12] != b"100":
            self._head = data  # the head: held for the body, which uvicorn writes next
            return
        head, self._head = self._head, b""
        self._transport.write(head + data if head else data)

    def close(self) -> None:
        if self._head:
            self._transport.write(self._head)
            self._head = b""
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RequestDeadlineProtocol(HttpToolsProtocol):
    timeout: float = 10.0
    # Set by the connection's gate (connections.py): `active` is called at each request's first
    # byte (a partial of a C method: no Python frame on the request path) and raises KeyError
    # at the connection's first request, which `first_request` is then told of; `closed` at
    # the end.
    active: Callable[[], object] = staticmethod(_nothing)
    first_request: Callable[[], object] = staticmethod(_nothing)
    closed: Callable[[], object] = staticmethod(_nothing)
    # Set on the worker's class when it begins to drain (SIGTERM): see `shutdown`.
    draining: bool = False
    drain_grace: float = 2.0
    _deadline: asyncio.TimerHandle | None = None
    _header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()
        if self.draining:  # its handshake completed after the drain began: one request more
            self._close_when_idle()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle: Any = self.cycle
        if cycle is not None:
            cycle.transport = _OneWrite(self.transport)
            if self.draining:
                cycle.keep_alive = False  # the answer says `Connection: close`, then it closes

    def shutdown(self) -> None:
        """The worker drains (uvicorn calls this on SIGTERM, after it stopped accepting). A
        request in progress is answered with `Connection: close`. An idle kept-alive connection
        is not closed at once, as uvicorn would: its client may be sending a request on it at
        this very moment, which would be lost. It gets `drain_grace` seconds for one more
        request (answered with `Connection: close`, so the client stops reusing it), then it is
        closed if still idle."""
        cycle: Any = self.cycle
        if cycle is None or cycle.response_complete:
            self._unset_keepalive_if_required()
            self._close_when_idle()
        else:
            cycle.keep_alive = False

    def _close_when_idle(self) -> None:
        self.loop.call_later(self.drain_grace, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.is_idle() and not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        try:
            self.active()
        except KeyError:  # the connection's first request (or it was closed a moment ago)
            self.first_request()
        if self._deadline is None:
            self._start()

    def on_url(self, url: bytes) -> None:
        # uvicorn's own on_url (no super(): a frame less per request), with the cap
        self._header_bytes += len(url)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(_URL_TOO_LONG)
            return
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(_HEADERS_TOO_LARGE)
            return
        super().on_header(name, value)

    def _refuse(self, response: bytes) -> None:
        """Answer and close; the rest of the request is never read into memory (the parser
        calls back for each chunk it was fed, but these callbacks keep nothing)."""
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def on_message_complete(self) -> None:
        self._stop()
        super().on_message_complete()

    def is_idle(self) -> bool:
        """No request begun and left unanswered (asked only when the worker needs room)."""
        cycle: Any = self.cycle
        return self.scope is None or (
            cycle is not None and cycle.scope is self.scope and cycle.response_complete
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self.closed()
        super().connection_lost(exc)
        # uvicorn cancels the keep-alive timer only on a clean close: after a reset the armed
        # timer kept the connection (~50 KB with its TLS state) alive for the whole keep-alive
        # timeout, so clients that abort connections grew the worker's memory without bound.
        self._unset_keepalive_if_required()

    def _start(self) -> None:
        self._deadline = self.loop.call_later(self.timeout, self._expired)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle: Any = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def with_request_timeout(seconds: float) -> type[RequestDeadlineProtocol]:
    """The protocol class to hand uvicorn, with its request deadline set."""
    attrs: dict[str, Any] = {"timeout": seconds}
    return type("RequestDeadlineProtocol", (RequestDeadlineProtocol,), attrs)
