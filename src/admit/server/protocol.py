"""uvicorn's httptools protocol with a deadline for request headers.

uvicorn bounds idle keep-alive time but not a client that opens a connection and then sends its
headers slowly or never (slowloris). This protocol closes a connection whose request headers are
not complete `header_timeout` seconds after the connection opened or the request began.
Depends on `HttpToolsProtocol`'s hooks; a test pins the behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to hand uvicorn, with its header deadline set."""
    attrs: dict[str, Any] = {"header_timeout": seconds}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attrs)
