"""What rules say and what the engine records of each rule: the closed vocabularies.

A rule returns or yields strings, `Violation`s or `warn(...)`; the engine turns that into one
`RuleResult` per rule and request, with an outcome among pass/fail/warn/error/skip, or
`excepted`: the rule found violations on an object a policy exception covers (they do not deny).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from admit.core.exceptions import PolicyException

Outcome = Literal["pass", "fail", "warn", "error", "skip", "excepted"]
Action = Literal["enforce", "warn", "audit"]
OnError = Literal["deny", "allow"]
Level = Literal["deny", "warn"]
Existing = Literal["warn", "deny"]  # what an UPDATE's violation the old object already had does
# How much a rule's failure matters, in policy reports (the OpenReports vocabulary).
Severity = Literal["critical", "high", "medium", "low", "info"]

OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "warn", "error", "skip", "excepted")
ACTIONS: tuple[Action, ...] = ("enforce", "warn", "audit")
ON_ERROR: tuple[OnError, ...] = ("deny", "allow")
EXISTING: tuple[Existing, ...] = ("warn", "deny")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")


class Violation(NamedTuple):
    """A message from a rule, with an optional field path (`spec.containers[0].image`).

    Paths are relative to the object the rule sees; for a Pod rule applied to a workload the
    engine prefixes them with the template's path.
    """

    message: str
    path: str | None = None
    level: Level = "deny"


def warn(message: str, path: str | None = None) -> Violation:
    """A violation that never denies: the request is allowed with an admission warning."""
    return Violation(message, path, "warn")


class RuleResult(NamedTuple):
    """One rule's verdict on one request (or one pod template within it).

    Immutable tuples rather than frozen dataclasses: one is built per rule per request, and a
    frozen dataclass costs several times more to construct on that hot path.
    """

    policy: str
    rule: str
    result: Outcome
    action: Action
    violations: tuple[Violation, ...] = ()
    duration_ns: int = 0
    error: str | None = None
    location: str | None = None
    traceback: str | None = None
    on_error: OnError = "deny"
    # A mutation's own JSON patch, recorded only when asked (`evaluate(..., rule_patches=True)`:
    # `admit check` shows it); the request's whole patch is the decision's.
    patch: tuple[Mapping[str, Any], ...] = ()
    # The policy exception that let an `excepted` result's violations through.
    exception: PolicyException | None = None

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.rule}"
