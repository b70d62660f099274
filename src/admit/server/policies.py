"""How the server gets its policies: a `PolicySource` per process (the seam hot reload plugs
into; tests pass a fixed set). In `admit serve` it is a store that follows the version the
policy source process published, so every worker serves the same one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from admit.core.cluster import Cluster
from admit.core.engine import PolicySet
from admit.core.match import KindPattern


class PolicySource(Protocol):
    def current(self) -> PolicySet | None:
        """The set to judge with now (None: no good version yet)."""

    def refresh(self, *, load: bool = True) -> bool:
        """Swap in what is published, if it changed (blocking: imports a bundle unless
        `load=False`, which applies only what needs no import)."""

    async def follow(self) -> None:
        """Keep `current()` fresh until cancelled."""

    def subscribe(self, callback: Callable[[PolicySet], None]) -> None:
        """Call `callback` with each set swapped in."""

    def status(self) -> dict[str, Any]:
        """What /readyz and the console report about the policies."""


class ClusterSource(Protocol):
    """The cluster cache behind `request.cluster` (built by the Kubernetes adapter)."""

    cluster: Cluster

    @property
    def synced(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    async def follow(self, reads: Callable[[], Iterable[KindPattern]]) -> None: ...


class FixedPolicies:
    """One policy set, forever."""

    def __init__(self, policy_set: PolicySet | None) -> None:
        self._policy_set = policy_set

    def current(self) -> PolicySet | None:
        return self._policy_set

    def refresh(self, *, load: bool = True) -> bool:
        return False

    async def follow(self) -> None:
        await asyncio.Event().wait()

    def subscribe(self, callback: Callable[[PolicySet], None]) -> None:
        if self._policy_set is not None:
            callback(self._policy_set)

    def status(self) -> dict[str, Any]:
        served = self._policy_set
        return {
            "served": None
            if served is None
            else {"digest": served.digest, "source": served.source, "rules": len(served.rules)}
        }
