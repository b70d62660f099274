"""Every connection a worker holds, from accept to close: counted, timed, and given back.

uvicorn accepts plain TCP and hands each connection to a `Gate`. The gate counts it against the
worker's `--max-connections` (closing an idle connection to make room, refusing only when every
connection is busy with a request), runs its TLS handshake under `--handshake-timeout`, then
hands the TLS session to the HTTP protocol, which marks the connection active at each request.
uvloop's own server-side TLS gives no handle on a connection before its handshake completes
(and allows 60 s for it), so connections that never start TLS could be neither timed out early
nor closed to make room. After a wave of connections closes, the worker hands the memory they
held back to the system. Used only by the worker; it never answers a request itself.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import resource
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from uvloop.loop import SSLProtocol  # type: ignore[attr-defined]  # what uvloop's servers use

from admit.server.protocol import RequestDeadlineProtocol

log = logging.getLogger("admit.connections")

REPORT_EVERY = 10.0  # seconds between two warnings about closed or refused connections
WAVE = 256  # connections closed since the last peak that are worth giving memory back for
SETTLE = 1.0  # seconds to let a wave finish closing before giving its memory back
SPARE_FILES = 128  # descriptors besides connections: the socket, logs, pipes, cluster watches


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None under a C library without it (musl)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


Stage = OrderedDict["Gate", None]  # least recently active first


class Connections:
    """The open connections of one worker, in two queues ordered by activity.

    `fresh` holds the connections that have not begun a request yet; each moves to the back
    when accepted, at its first byte and when its handshake completes. `used` holds those that
    have begun one; each moves to the back at every request's first byte. At the limit, the
    connection closed to make room is the front of `fresh` (it has gone longest without
    progress: a client's handshake and first request take milliseconds), else the least
    recently active `used` one that is idle. A connection busy with a request is never closed.
    So a wave of connections that never speak, or handshake and then say nothing, is what
    makes room, not kube-apiserver's kept-alive connections nor its new ones in progress.
    Keeping the order costs a request one C call; who is idle is asked only at the limit.
    """

    def __init__(self, limit: int, release: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.fresh: Stage = OrderedDict()
        self.used: Stage = OrderedDict()
        self._peak = 0
        self._release = release or _malloc_trim()
        self._settling: asyncio.TimerHandle | None = None
        self._closed_idle = 0
        self._refused = 0
        self._reporting: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self.fresh) + len(self.used)

    def admit(self, gate: Gate) -> bool:
        """Count a new connection in, making room at the limit; False when every connection is
        busy with a request and the new one must be refused."""
        if len(self) >= self.limit:
            idle = self._to_close()
            if idle is None:
                self._refused += 1
                self._report()
                return False
            idle.abort()  # forgets it
            self._closed_idle += 1
            self._report()
        self.fresh[gate] = None
        self._peak = max(self._peak, len(self))
        return True

    def progress(self, gate: Gate) -> None:
        """A connection without a request yet got further (its first byte, its handshake)."""
        if gate in self.fresh:
            self.fresh.move_to_end(gate)

    def active(self, gate: Gate) -> Callable[[], object]:
        """What marks `gate` as the most recently active of the used connections; raises
        KeyError when it is not one (at its first request, or once forgotten)."""
        return functools.partial(self.used.move_to_end, gate)

    def first_request(self, gate: Gate) -> None:
        if gate in self.fresh:
            del self.fresh[gate]
            self.used[gate] = None

    def _to_close(self) -> Gate | None:
        if self.fresh:
            return next(iter(self.fresh))
        # The busy ones passed over are active now: moved back, they are not scanned again
        # before every other connection has been. When all are busy, one pass of the limit's
        # size (0.3 ms for 1,024, measured) refuses the newcomer: less than a handshake costs.
        busy = []
        found = None
        for gate in self.used:
            if gate.is_idle():
                found = gate
                break
            busy.append(gate)
        for gate in busy:
            self.used.move_to_end(gate)
        return found

    def forget(self, gate: Gate) -> None:
        """A connection is gone; after a wave of them, give their memory back."""
        if gate in self.fresh:
            del self.fresh[gate]
        elif gate in self.used:
            del self.used[gate]
        else:
            return  # already forgotten
        if self._peak - len(self) >= WAVE and self._settling is None:
            loop = asyncio.get_running_loop()
            self._settling = loop.call_later(SETTLE, self._give_memory_back)

    def _give_memory_back(self) -> None:
        """Hand back the C heap that glibc keeps for reuse once connections are freed (their
        TLS state, uvloop's read buffers): measured on a 2-worker server, a wave of idle TLS
        connections at the limit took a worker from 45 to 80 MB, and it stayed at 80 MB
        without this; with it, 51 MB (the rest: Python's small-object arenas, which stay
        pinned by a few long-lived objects and are reused by the next wave). One call takes
        3-5 ms, once per wave."""
        self._settling = None
        self._peak = len(self)
        if self._release is not None:
            self._release()

    def _report(self) -> None:
        """Warn at once, then at most every REPORT_EVERY seconds while it goes on."""
        if self._reporting is None:
            self._warn()

    def _warn(self) -> None:
        self._reporting = None
        if not (self._closed_idle or self._refused):
            return
        log.warning(
            "at the connection limit (--max-connections %d): closed %d idle connection(s) to make "
            "room for new ones, refused %d new one(s) while every connection was busy with a "
            "request", self.limit, self._closed_idle, self._refused,
        )  # fmt: skip
        self._closed_idle = self._refused = 0
        self._reporting = asyncio.get_running_loop().call_later(REPORT_EVERY, self._warn)


class Gate(asyncio.Protocol):
    """One accepted connection: its place among the worker's connections, then its TLS
    handshake, then its HTTP protocol, each built only when the client gets that far.

    A connection gets `handshake_timeout` seconds from its accept to a completed handshake.
    Until its first byte it holds ~2 KB (TLS state would add ~50 KB: OpenSSL's buffers, the
    256 KiB read buffer uvloop reserves); until the handshake completes the gate is also the
    TLS session's protocol, so the HTTP protocol and its parser exist only for a completed one.
    """

    __slots__ = ("_deadline", "_http", "_http_args", "_tcp")

    # The worker's settings, bound on a subclass by `tls_http()`: uvicorn builds one protocol
    # per connection from a class.
    connections: Connections
    context: ssl.SSLContext
    handshake_timeout: float
    http: type[RequestDeadlineProtocol]

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._http_args = (config, server_state, app_state)
        self._tcp: asyncio.Transport | None = None
        self._http: RequestDeadlineProtocol | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called twice: for the TCP connection, then for its TLS session. uvloop's transports
        # implement asyncio.Transport without deriving from it.
        if self._tcp is None:
            self._accepted(cast(asyncio.Transport, transport))
        else:
            self._hand_over(cast(asyncio.Transport, transport))

    def _accepted(self, tcp: asyncio.Transport) -> None:
        """Count the connection in (or refuse it) and start its clock."""
        self._tcp = tcp
        if not self.connections.admit(self):
            tcp.abort()
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.handshake_timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        """The first bytes (a ClientHello, if it is TLS): from here the TLS protocol reads."""
        tcp = self._tcp
        if tcp is None or tcp.is_closing():  # closed to make room in the meantime
            return
        self.connections.progress(self)
        loop = asyncio.get_running_loop()
        handshake = loop.create_future()
        handshake.add_done_callback(self._handshake_over)
        tls = SSLProtocol(
            loop, self, self.context, handshake, server_side=True,
            ssl_handshake_timeout=self.handshake_timeout,  # the gate's own clock comes first
            # a close waits this long for the client's close_notify (uvloop's default: 30 s)
            ssl_shutdown_timeout=self.handshake_timeout,
        )  # fmt: skip
        tcp.set_protocol(tls)
        tls.connection_made(tcp)
        view = memoryview(data)
        while view and not tcp.is_closing():  # what the TLS protocol would have read itself
            buffer = tls.get_buffer(len(view))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            tls.buffer_updated(size)
            view = view[size:]

    def _hand_over(self, tls: asyncio.Transport) -> None:
        """The TLS session is established: from now on the HTTP protocol serves it."""
        self._stop_clock()
        self.connections.progress(self)
        config, server_state, app_state = self._http_args
        self._http = http = self.http(config=config, server_state=server_state, app_state=app_state)
        http.active = self.connections.active(self)
        http.first_request = self.first_request
        http.closed = self.closed
        tls.set_protocol(http)
        http.connection_made(tls)

    def _handshake_over(self, handshake: asyncio.Future[None]) -> None:
        # Failed, timed out or aborted (then the HTTP protocol is unborn and the clock runs).
        if handshake.cancelled() or handshake.exception() is not None or self._deadline is not None:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        # The TCP connection ended before its first byte (or was refused).
        self._stop_clock()
        self.connections.forget(self)

    def abort(self) -> None:
        """Close at once, with no TLS close_notify, and forget the connection: its memory is
        freed now."""
        self._stop_clock()
        self.connections.forget(self)
        if self._tcp is not None:
            self._tcp.abort()

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def is_idle(self) -> bool:
        """Not busy with a request: handshaking, or waiting for one."""
        return self._http is None or self._http.is_idle()

    def first_request(self) -> None:
        self.connections.first_request(self)

    def closed(self) -> None:
        """The HTTP protocol's connection is lost."""
        self._http = None  # a cycle with it, broken so that both are freed at once
        self.connections.forget(self)


def tls_http(
    context: ssl.SSLContext,
    http: type[RequestDeadlineProtocol],
    *,
    max_connections: int,
    handshake_timeout: float,
) -> type[Gate]:
    """The protocol class to hand uvicorn (with no `ssl` of its own): one worker's gate."""
    _allow_open_files(max_connections + SPARE_FILES)
    attrs: dict[str, Any] = {
        "connections": Connections(max_connections),
        "context": context,
        "handshake_timeout": handshake_timeout,
        "http": http,
        "__slots__": (),
    }
    return type("Gate", (Gate,), attrs)



def _allow_open_files(needed: int) -> None:
    """Each connection is a file descriptor: raise the soft limit (often 1024) toward the
    hard one, so that the connection limit, not accept() failing, is what applies."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    allowed = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if allowed > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
    if allowed < needed:
        log.warning(
            "a worker may open %d files (ulimit -n), fewer than --max-connections needs (%d): "
            "connections past it are refused by the system; raise the limit or lower "
            "--max-connections", allowed, needed,
        )  # fmt: skip
