"""Policy exceptions: an owned, expiring permission for some resources to break some rules.

An exception names the rules it covers (`policy` or `policy/rule`, globs), the resources
(kinds, namespaces, names with globs, a label selector; empty means any), who owns it, why,
and when it expires. While it applies, a rule's violations on a covered resource do not deny:
the rule's result is `excepted`, recorded with the exception (decision log, metrics, reports).
Once expired it no longer applies, and the tools that list exceptions say so.

The loader reads exceptions from a bundle's `exceptions.yaml` files (`admit.loading.exceptions`);
the engine consults them only for a rule that found violations, so they cost nothing on a
passing request. Pure: the only clock read is `time.time()`, when a violation needs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from admit.core.match import KindPattern, LabelSelector

if TYPE_CHECKING:
    from admit.core.review import Request

EXPIRING_SOON = 7 * 24 * 3600.0  # what /readyz and the tools call "expiring soon"


def _glob(patterns: tuple[str, ...], value: str) -> bool:
    return any(p == value or fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class PolicyException:
    """One exception, as its file declared it (see the module docstring)."""

    name: str
    owner: str
    reason: str
    expires: float  # seconds since the epoch from which it no longer applies
    expires_text: str  # the expiry as written (`2026-12-31`), for people
    rules: tuple[str, ...]  # `policy` or `policy/rule` globs
    kinds: tuple[KindPattern, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    selector: LabelSelector | None = None
    source: str = ""  # `exceptions.yaml:12`, where it is declared

    def covers_rule(self, policy: str, rule: str) -> bool:
        """Whether the exception names this rule: its policy, or `policy/rule`."""
        key = f"{policy}/{rule}"
        return any(
            p in (policy, key)
            or fnmatchcase(key, p)
            or ("/" not in p and fnmatchcase(policy, p))
            for p in self.rules
        )

    def covers(self, request: Request) -> bool:
        """Whether the request's object is one the exception names (expiry aside)."""
        if self.kinds and not any(k.covers(*request.kind) for k in self.kinds):
            return False
        if self.namespaces and not _glob(self.namespaces, request.namespace):
            return False
        if self.names and not _glob(self.names, request.name):
            return False
        return self.selector is None or self.selector.matches(request.labels)

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires

    def expiring(self, now: float | None = None, within: float = EXPIRING_SOON) -> bool:
        """Still in force, but not for longer than `within` seconds."""
        now = time.time() if now is None else now
        return now < self.expires <= now + within

    def describe(self) -> str:
        """`excepted by legacy-web, owner team-web, expires 2026-12-31`."""
        return f"excepted by {self.name}, owner {self.owner}, expires {self.expires_text}"

    def scoped(self, prefix: str) -> PolicyException:
        """The exception of a ConfigMap part whose policies are named `prefix` + policy: its
        rules name those too (and, written in full, the policies of other parts)."""
        if not prefix:
            return self
        return replace(self, rules=(*self.rules, *(prefix + r for r in self.rules)))

    def as_json(self, now: float | None = None) -> dict[str, object]:
        """What /readyz, the console and reports say of the exception."""
        return {
            "name": self.name,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires_text,
            "expired": self.expired(now),
            "rules": list(self.rules),
            "source": self.source,
        }


def applying(
    exceptions: Iterable[PolicyException], request: Request, now: float | None = None
) -> PolicyException | None:
    """The first exception in force that covers the request's object, or None."""
    for exception in exceptions:
        if exception.covers(request):
            if now is None:
                now = time.time()
            if now < exception.expires:
                return exception
    return None


def expired(
    exceptions: Iterable[PolicyException], request: Request, now: float | None = None
) -> PolicyException | None:
    """An expired exception that would otherwise cover the request's object, or None."""
    now = time.time() if now is None else now
    return next((e for e in exceptions if e.expired(now) and e.covers(request)), None)


__all__ = ["EXPIRING_SOON", "PolicyException", "applying", "expired"]
