"""How the server gets its policies: anything with `current() -> PolicySet` (the seam hot reload
plugs into; tests pass a fixed set). A source that also has `watch()` and `status()` is kept
fresh by each worker and reports its reloads in /readyz."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from admit.core.engine import PolicySet


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


class FixedPolicies:
    """One policy set, forever."""

    def __init__(self, policy_set: PolicySet) -> None:
        self._policy_set = policy_set

    def current(self) -> PolicySet:
        return self._policy_set
