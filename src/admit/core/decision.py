"""Turning per-rule results into one `Decision`: the one place that holds the precedence.

enforce + fail -> deny; enforce + error -> deny unless the rule says `on_error: allow`;
warn -> admission warnings; audit -> recorded only. Warn-level violations never deny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from admit.core.outcome import OUTCOMES, Outcome, RuleResult


class Decision(NamedTuple):
    """What the engine decided about one request.

    An immutable tuple, like `RuleResult`: one is built per request on the webhook's hot path.
    """

    allowed: bool
    results: tuple[RuleResult, ...] = ()
    patch: tuple[Mapping[str, Any], ...] = ()
    denials: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    audits: tuple[tuple[str, str], ...] = ()
    duration_ns: int = 0

    @property
    def message(self) -> str:
        """Every denial message, one per line (what kubectl shows after "denied the request:")."""
        return "\n".join(self.denials)

    def summary(self) -> dict[Outcome, int]:
        counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.result] += 1
        return counts


_new_decision = tuple.__new__


def _error_text(result: RuleResult) -> str:
    return f"rule {result.key} failed: {result.error}"


def decide(
    results: Iterable[RuleResult], patch: Iterable[Mapping[str, Any]] = (), duration_ns: int = 0
) -> Decision:
    """The decision for a request from its rule results (and the patch of its mutations)."""
    results = tuple(results)
    for r in results:
        if r.result != "pass" and r.result != "skip":
            break
    else:  # the common case, fast: tuple.__new__ skips the NamedTuple's Python-level __new__
        return _new_decision(Decision, (True, results, tuple(patch), (), (), (), duration_ns))
    denials: list[str] = []
    warnings: list[str] = []
    audits: list[tuple[str, str]] = []
    for r in results:
        if r.result in ("pass", "skip"):
            continue
        if r.result == "error":
            text = _error_text(r)
            if r.action == "audit":
                audits.append((r.key, text))
            elif r.action == "enforce" and r.on_error == "deny":
                denials.append(text)
            else:
                warnings.append(text)
            continue
        for v in r.violations:
            if r.action == "audit":
                audits.append((r.key, v.message))
            elif r.action == "enforce" and v.level == "deny":
                denials.append(v.message)
            else:
                warnings.append(v.message)
    return Decision(
        allowed=not denials,
        results=results,
        patch=tuple(patch),
        denials=tuple(_unique(denials)),
        warnings=tuple(_unique(warnings)),
        audits=tuple(audits),
        duration_ns=duration_ns,
    )


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
