"""List+watch of one kind into an in-memory store, the way client-go's reflector does it:
list, then watch from the list's resourceVersion with bookmarks; re-watch from the last seen
version when a watch ends; relist on 410 Gone (an HTTP 410, or an ERROR event with code 410,
which is how kube-apiserver answers a too-old watch); back off exponentially on other errors.

The store holds plain decoded objects keyed by (namespace, name), without managedFields, for
the kinds rules declared they read and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client (a maintained httpx fork)
import orjson

log = logging.getLogger("admit.cache")
Store = MutableMapping[tuple[str, str], Any]


class Gone(Exception):
    """The resourceVersion is too old: list again."""


class WatchFailed(Exception):
    """The watch stream reported an error other than 410."""


@dataclass
class ReflectorStatus:
    synced: bool = False
    lists: int = 0
    watches: int = 0
    errors: int = 0
    resource_version: str = ""
    last_error: str | None = None


def _slim(obj: Any) -> Any:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _key(obj: Any) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


@dataclass
class Reflector:
    """Keeps `store` equal to the cluster's objects at `path` (a collection URL path)."""

    client: httpx.AsyncClient
    path: str
    store: Store
    label_selector: str | None = None
    watch_seconds: int = 300
    backoff_max: float = 30.0
    status: ReflectorStatus = field(default_factory=ReflectorStatus)

    def _params(self, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        return params

    async def run(self) -> None:
        """Until cancelled."""
        failures = 0
        while True:
            try:
                version = await self.list()
                failures = 0
                while True:
                    version = await self.watch(version)
            except Gone:
                log.info("%s: resourceVersion expired; listing again", self.path)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, HTTP or decoding trouble: retry with backoff
                failures += 1
                self.status.errors += 1
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(self.backoff_max, 0.5 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
                log.warning("%s: %s; retrying in %.1fs", self.path, self.status.last_error, delay)
                await asyncio.sleep(delay)

    async def list(self) -> str:
        """Replace the store with a fresh list; returns the list's resourceVersion."""
        response = await self.client.get(self.path, params=self._params())
        if response.status_code == 410:
            raise Gone
        response.raise_for_status()
        document = orjson.loads(response.content)
        kind = str(document.get("kind", "")).removesuffix("List")
        api_version = document.get("apiVersion", "")
        fresh = {}
        for item in document.get("items") or ():
            item.setdefault("kind", kind)  # list items come without kind and apiVersion
            item.setdefault("apiVersion", api_version)
            fresh[_key(item)] = _slim(item)
        self.store.clear()
        self.store.update(fresh)
        version = str((document.get("metadata") or {}).get("resourceVersion", ""))
        self.status.lists += 1
        self.status.synced = True
        self.status.resource_version = version
        return version

    async def watch(self, version: str) -> str:
        """Apply one watch stream's events; returns the last resourceVersion seen."""
        params = self._params(watch="1", allowWatchBookmarks="true", resourceVersion=version,
                             timeoutSeconds=str(self.watch_seconds))  # fmt: skip
        self.status.watches += 1
        async with self.client.stream("GET", self.path, params=params) as response:
            if response.status_code == 410:
                raise Gone
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = orjson.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone
                    raise WatchFailed(obj.get("message") or str(obj))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED"):
                    self.store[_key(obj)] = _slim(obj)
                elif kind == "DELETED":
                    self.store.pop(_key(obj), None)
                self.status.resource_version = version
        return version
