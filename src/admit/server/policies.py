"""How the server gets its policies: anything with `current() -> PolicySet` (the seam that hot
reload plugs into; tests pass a fixed set)."""

from __future__ import annotations

from typing import Protocol

from admit.core.engine import PolicySet


class PolicySource(Protocol):
    def current(self) -> PolicySet | None: ...


class FixedPolicies:
    """One policy set, forever."""

    def __init__(self, policy_set: PolicySet) -> None:
        self._policy_set = policy_set

    def current(self) -> PolicySet:
        return self._policy_set
