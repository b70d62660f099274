"""How the server gets its policies: anything with `current() -> PolicySet` (the seam hot reload
plugs into; tests pass a fixed set). A source that also has `watch()` and `status()` is kept
fresh by each worker and reports its reloads in /readyz."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from admit.core.cluster import Cluster
from admit.core.engine import PolicySet
from admit.core.match import KindPattern


class PolicySource(Protocol):
    def current(self) -> PolicySet | None: ...


@runtime_checkable
class WatchedSource(Protocol):
    """A source that follows its origin (a directory, ConfigMaps) and reports reloads."""

    on_event: Callable[[Any], None] | None

    def current(self) -> PolicySet | None: ...

    async def watch(self) -> None: ...

    def check(self) -> Any: ...

    def status(self) -> dict[str, Any]: ...


class ClusterSource(Protocol):
    """The cluster cache behind `request.cluster` (built by the Kubernetes adapter)."""

    cluster: Cluster

    @property
    def synced(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    async def follow(self, reads: Callable[[], Iterable[KindPattern]]) -> None: ...


class FixedPolicies:
    """One policy set, forever."""

    def __init__(self, policy_set: PolicySet) -> None:
        self._policy_set = policy_set

    def current(self) -> PolicySet:
        return self._policy_set
