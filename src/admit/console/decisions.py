"""The console's end of the decision feed: it owns the socket the workers send to, keeps the
most recent decisions and hands each new one to the live streams.

Entries are stored encoded, their Secrets already redacted (`admit.server.feed.expand`), within
a bound on their number and on their bytes: what workers send is decided by requests, so it
must not be a way to grow the console's memory. A live stream is a cursor over the same ring,
never a copy: a slow one misses what left the ring while it lagged. The number of streams is
bounded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from admit.server.feed import MAX_DATAGRAM, decode

MAX_STORED = 32 * 1024 * 1024  # bytes of encoded entries kept, at most
MAX_SUBSCRIBERS = 32  # live streams at once


class Stored(NamedTuple):
    """An entry as the console keeps it: its summary (the entry without the request and the
    patch operations, which it counts) and the whole entry, both encoded."""

    id: int
    summary: bytes
    detail: bytes


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without its bulky parts (the request object and the patch operations)."""
    brief = {k: v for k, v in entry.items() if k not in ("request", "patch")}
    brief["patch"] = len(entry.get("patch") or ())
    return brief


class FeedBusy(Exception):
    """Every live stream the console allows is taken."""


class Watcher:
    """A live stream's cursor: `wait()` until entries newer than the last taken arrive,
    `take()` them (those still in the ring, oldest first)."""

    def __init__(self, feed: DecisionFeed) -> None:
        self.feed = feed
        self.last = feed.last_id
        self.ready = asyncio.Event()

    async def wait(self) -> None:
        await self.ready.wait()

    def take(self) -> list[Stored]:
        self.ready.clear()
        found = []
        for entry in reversed(self.feed.recent):
            if entry.id <= self.last:
                break
            found.append(entry)
        if found:
            self.last = found[0].id
        found.reverse()
        return found


class DecisionFeed:
    """The console's end: binds the socket, keeps the last `size` entries (each given a
    sequence number `id`, stored encoded, at most `max_bytes` in all) and wakes every live
    stream's `Watcher` when new ones arrive."""

    def __init__(
        self, path: str | os.PathLike[str], size: int = 500, max_bytes: int = MAX_STORED
    ) -> None:
        self.path = Path(path)
        self.recent: deque[Stored] = deque(maxlen=size)
        self.max_bytes = max_bytes
        self.skipped = 0  # entries that could not be encoded
        self._bytes = 0
        self.last_id = 0
        self._ids = itertools.count(1)
        self._watchers: set[Watcher] = set()
        self._sock: socket.socket | None = None

    def bind(self) -> None:
        """Own the socket path (a stale one from a previous console is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.setblocking(False)
        self._sock = sock

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read datagrams as they arrive, on `loop`."""
        if self._sock is None:
            self.bind()
        assert self._sock is not None
        loop.add_reader(self._sock.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._sock is not None
        for _ in range(256):  # bounded, so a flood cannot starve the console's HTTP side
            try:
                data = self._sock.recv(MAX_DATAGRAM + 1024)
            except (BlockingIOError, InterruptedError):
                return
            for entry in decode(data):
                self.add(entry)

    def add(self, entry: dict[str, Any]) -> Stored | None:
        """Number, encode and keep `entry` (dropping the oldest past the bounds) and wake the
        watchers; None when it cannot be encoded (a request nested too deep)."""
        entry["id"] = next(self._ids)
        try:
            stored = Stored(entry["id"], orjson.dumps(summary(entry)), orjson.dumps(entry))
        except orjson.JSONEncodeError:
            self.skipped += 1
            return None
        recent = self.recent
        if len(recent) == recent.maxlen:
            self._bytes -= _size(recent[0])
        recent.append(stored)
        self._bytes += _size(stored)
        while self._bytes > self.max_bytes and len(recent) > 1:
            self._bytes -= _size(recent.popleft())
        self.last_id = stored.id
        for watcher in self._watchers:
            watcher.ready.set()
        return stored

    def get(self, entry_id: int) -> dict[str, Any] | None:
        """An entry in full, decoded (None once it has left the ring)."""
        found = self.detail(entry_id)
        return orjson.loads(found) if found is not None else None

    def detail(self, entry_id: int) -> bytes | None:
        """An entry in full, encoded (None once it has left the ring)."""
        return next((e.detail for e in reversed(self.recent) if e.id == entry_id), None)

    def watch(self) -> Watcher:
        """A cursor for a live stream, from now on; `FeedBusy` past MAX_SUBSCRIBERS."""
        if len(self._watchers) >= MAX_SUBSCRIBERS:
            raise FeedBusy(f"{MAX_SUBSCRIBERS} live streams are open already")
        watcher = Watcher(self)
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._sock is None:
            return
        if loop is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _size(stored: Stored) -> int:
    return len(stored.summary) + len(stored.detail)
