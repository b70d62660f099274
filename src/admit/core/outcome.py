"""What rules say and what the engine records of each rule: the closed vocabularies.

A rule returns or yields strings, `Violation`s or `warn(...)`; the engine turns that into one
`RuleResult` per rule and request, with an outcome among pass/fail/warn/error/skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["pass", "fail", "warn", "error", "skip"]
Action = Literal["enforce", "warn", "audit"]
OnError = Literal["deny", "allow"]
Level = Literal["deny", "warn"]

OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "warn", "error", "skip")
ACTIONS: tuple[Action, ...] = ("enforce", "warn", "audit")
ON_ERROR: tuple[OnError, ...] = ("deny", "allow")


@dataclass(frozen=True, slots=True)
class Violation:
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


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's verdict on one request (or one pod template within it)."""

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

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.rule}"
