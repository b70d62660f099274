"""Policies from ConfigMaps (kube-mgmt parity): every ConfigMap matching a label selector in
the given namespaces is a bundle (its keys are files; `dir__file.py` is `dir/file.py`). Each is
one part of the published version, loaded on its own, so one broken ConfigMap never takes down
the others: it keeps its last good content. The source runs in one process (the server's source
process); the version it publishes is what every worker serves. The outcome is written back to
each ConfigMap as the annotation `admit.dev/status`: ok with the digest and rule count, or the
problems.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client
import orjson

from admit.kube.api import collection_path
from admit.kube.reflector import Reflector
from admit.loading.publisher import Files, Publisher, ReloadEvent
from admit.loading.versions import Part

log = logging.getLogger("admit.sources")
STATUS_ANNOTATION = "admit.dev/status"
Key = tuple[str, str]


def files_of(cm: Any) -> Files:
    """A ConfigMap's keys as bundle files (`dir__file.py` -> `dir/file.py`), sorted; keys that
    would leave the bundle's directory are skipped."""
    files = []
    for key, text in sorted((cm.get("data") or {}).items()):
        relative = PurePosixPath(*key.split("__"))
        if relative.is_absolute() or ".." in relative.parts or not isinstance(text, str):
            continue
        files.append((relative.as_posix(), text.encode()))
    return sorted(files)


def part_of(key: Key) -> Part:
    namespace, name = key
    label = f"{namespace}/{name}"
    return Part(label, prefix=f"{name}.", allow_empty=True, label=label)


class ConfigMapSource:
    """Follows labelled ConfigMaps and publishes their union whenever one changes."""

    def __init__(
        self,
        connect: Callable[[], httpx.AsyncClient],
        namespaces: list[str],
        selector: str,
        publisher: Publisher,
    ) -> None:
        self._connect = connect
        self.namespaces = namespaces
        self.selector = selector
        self.publisher = publisher
        self.stores: dict[str, dict[Key, Any]] = {ns: {} for ns in namespaces}
        self.reflectors: list[Reflector] = []
        self._offered: tuple[Any, ...] | None = None
        self._statuses: dict[Key, dict[str, Any]] = {}  # as last written back

    def rebuild(self) -> list[tuple[Key, dict[str, Any]]]:
        """Publish the ConfigMaps' content if it changed; the statuses to write back."""
        seen = sorted((key, cm) for store in self.stores.values() for key, cm in store.items())
        parts = [(part_of(key), files_of(cm)) for key, cm in seen]
        content = tuple((part, files) for part, files in parts)
        if content == self._offered:
            return []
        self._offered = content
        event: ReloadEvent | None
        event = self.publisher.offer(parts) if parts else self.publisher.empty()
        if event is None:
            return []
        statuses = {key: self.publisher.parts.get(part_of(key).label, {}) for key, _ in seen}
        changed = [(key, s) for key, s in statuses.items() if self._statuses.get(key) != s]
        self._statuses = statuses
        return changed

    async def _annotate(self, client: httpx.AsyncClient, key: Key, status: dict[str, Any]) -> None:
        if not status:
            return
        store = self.stores.get(key[0], {})
        value = orjson.dumps(status).decode()
        current = ((store.get(key) or {}).get("metadata") or {}).get("annotations") or {}
        if current.get(STATUS_ANNOTATION) == value:
            return
        patch = {"metadata": {"annotations": {STATUS_ANNOTATION: value}}}
        path = f"{collection_path('', 'v1', 'configmaps', key[0])}/{key[1]}"
        try:
            response = await client.patch(
                path,
                content=orjson.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("cannot annotate ConfigMap %s/%s: %s", key[0], key[1], exc)

    async def watch(self) -> None:
        """Follow the ConfigMaps until cancelled."""
        client = self._connect()
        tasks = []
        for ns in self.namespaces:
            path = collection_path("", "v1", "configmaps", ns)
            reflector = Reflector(client, path, self.stores[ns], label_selector=self.selector)
            self.reflectors.append(reflector)
            tasks.append(asyncio.ensure_future(reflector.run()))
        try:
            while True:
                if all(r.status.synced for r in self.reflectors):
                    try:
                        for key, status in await asyncio.to_thread(self.rebuild):
                            await self._annotate(client, key, status)
                    except Exception:
                        log.exception("publishing the ConfigMaps' policies failed")
                await asyncio.sleep(0.2)
        finally:
            for task in tasks:
                task.cancel()
            await client.aclose()
