"""`request.cluster`: read-only access to cluster objects for referential rules (unique Ingress
hosts, namespace labels). The server fills it from list+watch of the kinds rules declare with
`reads=`; `admit check` fills it from the manifests it is given, so the same rule works in CI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from admit.core.match import KindPattern
from admit.core.views import View

Key = tuple[str, str]  # (group, kind)
Store = Mapping[Key, Mapping[tuple[str, str], Any]]  # -> (namespace, name) -> object


def object_key(obj: Mapping[str, Any]) -> tuple[Key, tuple[str, str]]:
    """((group, kind), (namespace, name)) of a Kubernetes object."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return (group, str(obj.get("kind", ""))), (meta.get("namespace") or "", meta.get("name") or "")


class Cluster:
    """Objects by kind, namespace and name; never copied, never written by rules."""

    __slots__ = ("_store",)

    def __init__(self, store: Store | None = None) -> None:
        self._store: Store = store if store is not None else {}

    @classmethod
    def of(cls, objects: Iterable[Mapping[str, Any]]) -> Cluster:
        """A cluster holding `objects` (the manifests `admit check` was given)."""
        store: dict[Key, dict[tuple[str, str], Any]] = {}
        for obj in objects:
            kind, name = object_key(obj)
            store.setdefault(kind, {})[name] = obj
        return cls(store)

    def _kinds(self, kind: str) -> list[Mapping[tuple[str, str], Any]]:
        pattern = KindPattern.parse(kind)  # versions are not kept: any version's objects match
        return [
            objects
            for (group, name), objects in self._store.items()
            if pattern.covers(group, pattern.version, name)
        ]

    def list(self, kind: str, namespace: str | None = None) -> list[View]:
        """Every object of `kind` ("Ingress", "networking.k8s.io/v1/Ingress"), optionally in one
        namespace, sorted by namespace and name."""
        found = [
            (key, obj)
            for objects in self._kinds(kind)
            for key, obj in objects.items()
            if namespace is None or key[0] == namespace
        ]
        return [View(obj) for _, obj in sorted(found, key=lambda item: item[0])]

    def get(self, kind: str, name: str, namespace: str | None = None) -> View | None:
        """One object by name (and namespace for namespaced kinds), or None."""
        for objects in self._kinds(kind):
            obj = objects.get((namespace or "", name))
            if obj is not None:
                return View(obj)
        return None

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """The labels of a cached Namespace, or None when it is not cached."""
        objects = self._store.get(("", "Namespace"))
        obj = objects.get(("", namespace)) if objects else None
        if obj is None:
            return None
        labels: dict[str, str] = (obj.get("metadata") or {}).get("labels") or {}
        return labels

    def __len__(self) -> int:
        return sum(len(objects) for objects in self._store.values())


EMPTY_CLUSTER = Cluster()
