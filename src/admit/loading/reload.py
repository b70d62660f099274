"""Hot reload: a policy source that follows a bundle directory and never loses the good set.

`check()` compares a cheap stat signature of the directory, then its content digest, and loads a
changed bundle completely (imports, admit.yaml, data) before swapping the one reference that
`current()` returns. A bundle that fails to load leaves the previous set serving and is kept as
`last_error` with every problem located. Kubernetes ConfigMap volumes publish a new version by
swapping a `..data` symlink; stat follows links, so the swap shows as changed files.

`watch()` drives `check()` from file events (watchfiles) with a polling fallback; loads run in a
thread so the event loop keeps answering with the current set meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from admit.core.engine import PolicySet
from admit.core.errors import BundleError
from admit.loading.loader import bundle_files, digest_of, load_bundle

log = logging.getLogger("admit.reload")

Result = Literal["ok", "error"]


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    """One attempt to load a changed bundle."""

    time: float
    result: Result
    digest: str
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "result": self.result,
            "digest": self.digest,
            "problems": list(self.problems),
            "seconds": round(self.seconds, 4),
        }


def _signature(root: Path) -> tuple[Any, ...]:
    """Names, sizes, mtimes and inodes of the bundle's files (following links)."""
    entries = []
    for path in bundle_files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(entries)


class BundleWatcher:
    """A reloading policy source for one bundle directory."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        initial: PolicySet | None = None,
        *,
        on_event: Callable[[ReloadEvent], None] | None = None,
        history: int = 20,
    ) -> None:
        self.root = Path(root)
        self._current = initial
        self._signature: tuple[Any, ...] | None = None
        self._seen_digest = initial.digest if initial is not None else ""
        self.history: deque[ReloadEvent] = deque(maxlen=history)
        self.last_error: ReloadEvent | None = None
        self.on_event = on_event
        self._lock = threading.Lock()

    def current(self) -> PolicySet | None:
        return self._current

    def check(self) -> ReloadEvent | None:
        """Load the bundle again if its content changed; the event, or None if unchanged."""
        with self._lock:
            signature = _signature(self.root)
            if signature == self._signature:
                return None
            self._signature = signature
            try:
                digest = digest_of(self.root, list(bundle_files(self.root)))
            except OSError:
                return None  # mid-swap; the next check sees the finished state
            if digest == self._seen_digest:
                return None
            self._seen_digest = digest
            started = time.perf_counter()
            try:
                fresh = load_bundle(self.root)
            except BundleError as exc:
                event = ReloadEvent(
                    time.time(),
                    "error",
                    digest,
                    tuple(str(p) for p in exc.problems),
                    time.perf_counter() - started,
                )
                self.last_error = event
            else:
                self._current = fresh
                self.last_error = None
                event = ReloadEvent(
                    time.time(), "ok", fresh.digest, (), time.perf_counter() - started
                )
            self.history.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def status(self) -> dict[str, Any]:
        """What /readyz reports about reloading."""
        return {
            "last_error": self.last_error.as_json() if self.last_error else None,
            "history": [e.as_json() for e in self.history],
        }

    async def watch(self, poll_interval: float = 1.0) -> None:
        """Keep `current()` fresh until cancelled: file events, and a poll as the fallback."""
        events = asyncio.Event()
        watcher = asyncio.ensure_future(self._file_events(events))
        try:
            while True:
                await asyncio.to_thread(self.check)
                events.clear()
                try:
                    await asyncio.wait_for(events.wait(), poll_interval)
                    await asyncio.sleep(0.05)  # let a burst of events (a symlink swap) settle
                except TimeoutError:
                    pass
        finally:
            watcher.cancel()

    async def _file_events(self, events: asyncio.Event) -> None:
        try:
            import watchfiles
        except ImportError:  # polling alone still reloads within the poll interval
            return
        try:
            async for _ in watchfiles.awatch(self.root, debounce=50, step=25, recursive=True):
                events.set()
        except (OSError, RuntimeError) as exc:
            log.warning("file events unavailable for %s (%s); polling instead", self.root, exc)
