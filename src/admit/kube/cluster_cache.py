"""The cluster cache behind `request.cluster`: one reflector per kind that the active rules
declare with `reads=`, started when a bundle first needs the kind (also after a reload).

It runs inside each worker's event loop, where requests are evaluated, so rules always see a
consistent store without locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client

from admit.core.cluster import Cluster
from admit.core.match import KindPattern
from admit.kube.api import collection_path
from admit.kube.reflector import Reflector

log = logging.getLogger("admit.cache")


def watchable(pattern: KindPattern) -> str | None:
    """Why the server cannot watch `pattern`, or None when it can: the loader resolves each
    `reads=` kind to exactly one resource (group, version, plural)."""
    if pattern.resources is None or len(pattern.resources) != 1 or pattern.version == "*":
        return (
            f"reads={str(pattern)!r}: name the group, version and kind the server should "
            "watch, e.g. 'networking.k8s.io/v1/Ingress' or 'v1/Namespace'"
        )
    return None


class ClusterCache:
    """Reflectors keyed by (group, kind); `cluster` reads their stores."""

    def __init__(self, connect: Callable[[], httpx.AsyncClient]) -> None:
        self._connect = connect
        self._client: httpx.AsyncClient | None = None
        self.store: dict[tuple[str, str], dict[tuple[str, str], Any]] = {}
        self.cluster = Cluster(self.store)
        self.reflectors: dict[tuple[str, str], Reflector] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def ensure(self, reads: Iterable[KindPattern]) -> None:
        """Start reflectors for kinds not cached yet (call from the event loop)."""
        for pattern in reads:
            if watchable(pattern) is not None:
                continue
            key = (pattern.group, pattern.kind)
            if key in self.reflectors:
                continue
            if self._client is None:
                self._client = self._connect()
            store = self.store.setdefault(key, {})
            path = collection_path(pattern.group, pattern.version, pattern.plural)
            reflector = Reflector(self._client, path, store)
            self.reflectors[key] = reflector
            self._tasks.append(asyncio.ensure_future(reflector.run()))
            log.info("caching %s from %s", pattern, path)

    @property
    def synced(self) -> bool:
        return all(r.status.synced for r in self.reflectors.values())

    def status(self) -> dict[str, Any]:
        return {
            f"{group}/{kind}" if group else kind: {
                "synced": r.status.synced,
                "objects": len(r.store),
                "resource_version": r.status.resource_version,
                "errors": r.status.errors,
                "last_error": r.status.last_error,
            }
            for (group, kind), r in self.reflectors.items()
        }

    async def aclose(self) -> None:
        """Stop every reflector and close the connection (the cache is empty then)."""
        for task in self._tasks:
            task.cancel()
        self._tasks, self.reflectors = [], {}
        self.store.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def follow(self, reads: Callable[[], Iterable[KindPattern]]) -> None:
        """Keep a reflector running for every kind `reads()` names, until cancelled."""
        try:
            while True:
                self.ensure(reads())
                await asyncio.sleep(1.0)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._client is not None:
                await self._client.aclose()
