"""List+watch of an audited kind that judges objects instead of keeping them.

A `PagedReflector` is the cluster cache's reflector (list, watch from the list's version with
bookmarks, relist on 410, back off on errors) that lists in pages. It writes into an
`AuditedStore`, which remembers only each object's resourceVersion and hands every object
that changed (or appeared, or went away) to the auditor: an unchanged object is never judged
again, so a relist after a watch expired costs a list, not an audit of 100,000 objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from admit.core.kinds import ApiResource
from admit.kube.inventory import list_pages
from admit.kube.reflector import Reflector

Key = tuple[str, str]  # (namespace, name)
OnChange = Callable[[ApiResource, Key, Any], None]  # the object, or None when it went away


class AuditedStore(MutableMapping[Key, Any]):
    """A reflector's store that keeps resourceVersions and reports changes."""

    def __init__(self, resource: ApiResource, on_change: OnChange) -> None:
        self.resource = resource
        self.on_change = on_change
        self.versions: dict[Key, str] = {}
        self._unseen: set[Key] | None = None  # during a list: keys the list has not named yet

    def __setitem__(self, key: Key, obj: Any) -> None:
        if self._unseen is not None:
            self._unseen.discard(key)
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if version and self.versions.get(key) == version:
            return  # unchanged since it was judged
        self.versions[key] = version
        self.on_change(self.resource, key, obj)

    def __delitem__(self, key: Key) -> None:
        del self.versions[key]
        self.on_change(self.resource, key, None)

    def __getitem__(self, key: Key) -> Any:
        raise KeyError(key)  # objects are judged, not kept

    def __iter__(self) -> Iterator[Key]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)

    def begin_list(self) -> None:
        self._unseen = set(self.versions)

    def end_list(self) -> None:
        """After a complete list: what it did not name is gone."""
        gone, self._unseen = self._unseen or set(), None
        for key in gone:
            self.pop(key, None)

    def pop(self, key: Key, default: Any = None) -> Any:
        if key in self.versions:
            del self[key]
        return default


@dataclass
class PagedReflector(Reflector):
    """A reflector that lists `resource` in pages into an `AuditedStore`."""

    resource: ApiResource | None = None

    async def list(self) -> str:
        store = self.store
        assert isinstance(store, AuditedStore)
        assert self.resource is not None
        store.begin_list()
        version = ""
        async for items, page_version in list_pages(self.client, self.resource):
            for obj in items:
                meta = obj.get("metadata") or {}
                store[(meta.get("namespace") or "", meta.get("name") or "")] = obj
            version = page_version
            await asyncio.sleep(0)  # between pages, the lease and the writer get their turn
        store.end_list()
        self.status.lists += 1
        self.status.synced = True
        self.status.resource_version = version
        return version
