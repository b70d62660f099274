"""Hot reload of a bundle directory: the source that follows it and publishes each change.

`check()` compares a cheap stat signature of the directory, then its content digest, and hands
changed content to the `Publisher` (snapshot, sandbox load, publish). A Kubernetes ConfigMap
volume publishes a new version by swapping its `..data` link: the link is resolved once per
check, so one version's files are never mixed with another's. Content that failed to load is
not retried until it changes again.

`watch()` drives `check()` from file events (watchfiles) with a polling fallback. It runs in one
process (the server's source process), never in the workers: they follow what is published.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from admit.loading.loader import bundle_files, resolved_root
from admit.loading.publisher import Files, Publisher, ReloadEvent, files_digest
from admit.loading.tarball import MANIFEST
from admit.loading.versions import Part

log = logging.getLogger("admit.reload")

__all__ = ["DirectorySource", "ReloadEvent", "read_bundle"]


def read_bundle(root: Path) -> Files:
    """The bundle's files as (relative name, bytes), read from one version of a volume; its
    `.manifest` (hidden, so no rule module) too: the revision travels with the version."""
    base = resolved_root(root)
    files = [(path.relative_to(base).as_posix(), path.read_bytes()) for path in bundle_files(base)]
    manifest = base / MANIFEST
    if manifest.is_file():
        files.insert(0, (MANIFEST, manifest.read_bytes()))
    return files


def _signature(root: Path) -> tuple[Any, ...]:
    """Names, sizes, mtimes and inodes of the bundle's files and of the `..data` link."""
    entries: list[Any] = []
    link = root / "..data"
    if link.is_symlink():
        entries.append(os.readlink(link))
    for path in (root / MANIFEST, *bundle_files(root)):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(entries)


class DirectorySource:
    """Follows one bundle directory and publishes every change that loads."""

    def __init__(self, root: str | os.PathLike[str], publisher: Publisher) -> None:
        self.root = Path(root)
        self.publisher = publisher
        self._signature: tuple[Any, ...] | None = None
        self._seen = ""

    def check(self) -> ReloadEvent | None:
        """Publish the bundle if its content changed; the event, or None if unchanged."""
        signature = _signature(self.root)
        if signature == self._signature:
            return None
        try:
            files = read_bundle(self.root)
        except OSError:
            return None  # mid-swap (the version just read was removed); the next check retries
        self._signature = signature
        digest = files_digest(files)
        if digest == self._seen:
            return None
        self._seen = digest
        return self.publisher.offer([(Part(), files)])

    async def watch(self, poll_interval: float = 1.0) -> None:
        """Publish changes until cancelled: on file events, and by polling as the fallback."""
        events = asyncio.Event()
        watcher = asyncio.ensure_future(self._file_events(events))
        try:
            while True:
                try:
                    await asyncio.to_thread(self.check)
                except Exception:
                    log.exception("checking %s for changes failed", self.root)
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
