"""Which checks a level and version select, and PSA's verdict on a pod, worded as kubectl users
see it.

As in the reference implementation's registry: Baseline is every Baseline check in its revision
for the version; Restricted is Baseline without the checks a Restricted check overrides, plus
the Restricted checks; failures are listed Baseline first, each level by check ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from admit.policies._pss.baseline import BASELINE
from admit.policies._pss.model import Check, Exclusion, Finding, Pod, Revision, kept
from admit.policies._pss.restricted import RESTRICTED
from admit.policies._pss.versions import Level

CHECKS: tuple[Check, ...] = BASELINE + RESTRICTED
# control name -> the restricted fields its checks read, as exemptions name them
CONTROLS: dict[str, tuple[str, ...]] = {}
for _check in CHECKS:
    _fields = (*CONTROLS.get(_check.control, ()), *_check.fields)
    CONTROLS[_check.control] = tuple(dict.fromkeys(_fields))


class Result(NamedTuple):
    """A failed check: what it found (after exemptions) and PSA's reason and detail."""

    check: Check
    findings: tuple[Finding, ...]
    reason: str
    detail: str


@cache
def checks_for(level: Level, minor: int) -> tuple[tuple[Check, Revision], ...]:
    """The checks (in their revision) a level selects at policy version v1.`minor`, in the
    order PSA reports them."""
    if level == "privileged":
        return ()
    baseline = [(c, r) for c in BASELINE if (r := c.at(minor)) is not None]
    if level == "baseline":
        return tuple(sorted(baseline, key=lambda cr: cr[0].id))
    restricted = [(c, r) for c in RESTRICTED if (r := c.at(minor)) is not None]
    overridden = {o for c, _ in restricted for o in c.overrides}
    kept_baseline = [(c, r) for c, r in baseline if c.id not in overridden]
    return tuple(
        sorted(kept_baseline, key=lambda cr: cr[0].id)
        + sorted(restricted, key=lambda cr: cr[0].id)
    )


def evaluate(
    pod: Pod, level: Level, minor: int, exclusions: Sequence[Exclusion] = ()
) -> list[Result]:
    """The checks of `level` at v1.`minor` that `pod` fails, once exemptions are applied."""
    failed = []
    for check, revision in checks_for(level, minor):
        findings = revision.find(pod)
        if findings and exclusions:
            findings = kept(findings, check.control, exclusions)
        if findings:
            reason, detail = revision.explain(findings)
            failed.append(Result(check, tuple(findings), reason, detail))
    return failed


def explain(results: Sequence[Result]) -> str:
    """PSA's forbidden detail: `reason (detail), reason (detail)`."""
    return ", ".join(f"{r.reason} ({r.detail})" if r.detail else r.reason for r in results)


def control_findings(
    pod: Pod, level: Level, minor: int, control: str, exclusions: Sequence[Exclusion] = ()
) -> list[Finding]:
    """What `pod` breaks of one control's checks of `level` itself (not the Baseline checks a
    Restricted profile also runs) at v1.`minor`, after exemptions."""
    found: list[Finding] = []
    for revision in _of_control(level, control, minor):
        findings = revision.find(pod)
        found += kept(findings, control, exclusions) if findings and exclusions else findings
    return found


@cache
def _of_control(level: Level, control: str, minor: int) -> tuple[Revision, ...]:
    """The revisions in force at v1.`minor` of `control`'s checks of `level`."""
    if control not in CONTROLS:
        raise ValueError(f"no Pod Security Standards control named {control!r}")
    checks = [c for c in CHECKS if c.level == level and c.control == control]
    return tuple(r for c in checks if (r := c.at(minor)) is not None)
