"""What-if: how a recorded admission's answer would change under another bundle.

A recorded answer is a `Verdict` (from the decision log, a recorded AdmissionReview response,
or a baseline bundle's decision); the new bundle's `Decision` is compared with it, and each
difference is a `Change` attributed to the policy that causes it: `denied` (allowed before,
denied now, by this policy's rules), `allowed` (denied before, allowed now; the policies that
denied before), `warned` (a warning the answer did not carry). Pure.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from admit.core.decision import Decision, format_message
from admit.core.outcome import RuleResult

ChangeKind = Literal["denied", "allowed", "warned"]
CHANGES: tuple[ChangeKind, ...] = ("denied", "allowed", "warned")
UNKNOWN_POLICY = "(recorded denial)"  # a recorded answer that does not say who denied


class Verdict(NamedTuple):
    """A request's answer: allowed or not, its warnings, and the policies that denied it."""

    allowed: bool
    warnings: tuple[str, ...] = ()
    denying: tuple[str, ...] = ()


class Change(NamedTuple):
    kind: ChangeKind
    policy: str
    messages: tuple[str, ...] = ()


def _denies(r: RuleResult) -> bool:
    if r.action != "enforce":
        return False
    if r.result == "error":
        return r.on_error == "deny"
    return r.result == "fail" and any(v.level == "deny" for v in r.violations)


def verdict(decision: Decision) -> Verdict:
    """The verdict a decision gave."""
    denying = tuple(dict.fromkeys(r.policy for r in decision.results if _denies(r)))
    return Verdict(decision.allowed, decision.warnings, denying)


def _denials(r: RuleResult, message_format: str | None) -> tuple[str, ...]:
    if r.result == "error":
        return (format_message(message_format, f"rule {r.key} failed: {r.error}", r),)
    return tuple(
        format_message(message_format, v.message, r) for v in r.violations if v.level == "deny"
    )


def _warnings(r: RuleResult, message_format: str | None) -> tuple[str, ...]:
    """The admission warnings a rule's result makes (as `decide` words them)."""
    if r.action == "audit" or r.result in ("pass", "skip", "excepted"):
        return ()
    if r.result == "error":
        if r.action == "enforce" and r.on_error == "deny":
            return ()
        return (format_message(message_format, f"rule {r.key} failed: {r.error}", r),)
    return tuple(
        format_message(message_format, v.message, r)
        for v in r.violations
        if not (r.action == "enforce" and v.level == "deny")
    )


def changes(before: Verdict, after: Decision, message_format: str | None = None) -> list[Change]:
    """How `after` differs from `before`, by policy (empty: the same answer)."""
    found: list[Change] = []
    if before.allowed and not after.allowed:
        by_policy: dict[str, list[str]] = {}
        for r in after.results:
            if _denies(r):
                by_policy.setdefault(r.policy, []).extend(_denials(r, message_format))
        found += [Change("denied", p, tuple(dict.fromkeys(m))) for p, m in by_policy.items()]
    elif after.allowed and not before.allowed:
        found += [Change("allowed", p) for p in before.denying or (UNKNOWN_POLICY,)]
    had = set(before.warnings)
    new: dict[str, list[str]] = {}
    for r in after.results:
        for text in _warnings(r, message_format):
            if text not in had:
                new.setdefault(r.policy, []).append(text)
    found += [Change("warned", p, tuple(dict.fromkeys(m))) for p, m in new.items()]
    return found


__all__ = ["CHANGES", "UNKNOWN_POLICY", "Change", "ChangeKind", "Verdict", "changes", "verdict"]
