"""What `admit check` found, as every output format reads it: each manifest with its decision,
and each rule result as rows with one reported outcome.

One vocabulary for every format: `pass`, `mutate` (a mutation that changed the object; its
patch rides along), `fail` (an enforced rule denied), `warn` (a rule with action `warn` failed,
or a rule called `admit.warn()`), `audit` (recorded, never shown to the API's caller), `excepted`
(a violation a policy exception lets through; its message names the exception), `error` (the
rule raised) and `skip` (the rule does not apply). A rule result's outcome is the worst of its
rows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from admit.cli.expiry import exceptions_json
from admit.core.decision import Decision, format_message
from admit.core.engine import PolicySet
from admit.core.errors import InputError
from admit.core.outcome import RuleResult
from admit.loading.files import STDIN_LABEL, Manifest, Skipped

Reported = Literal["pass", "mutate", "fail", "warn", "audit", "excepted", "error", "skip"]
REPORTED: tuple[Reported, ...] = (
    "pass", "mutate", "fail", "warn", "audit", "excepted", "error", "skip",
)  # fmt: skip
_WORST: dict[Reported, int] = {
    "skip": 0, "pass": 1, "mutate": 2, "excepted": 3, "audit": 4, "warn": 5, "fail": 6,
    "error": 7,
}  # fmt: skip


class Row(NamedTuple):
    """One thing to say about a rule result: a violation, an error, a patch, or its outcome."""

    outcome: Reported
    message: str | None = None
    path: str | None = None


def _relative(location: str | None) -> str | None:
    if not location:
        return None
    path, _, line = location.rpartition(":")
    with contextlib.suppress(ValueError):  # another drive on Windows
        path = os.path.relpath(path)
    return f"{path}:{line}"


def error_message(result: RuleResult) -> str:
    where = _relative(result.location)
    return f"rule {result.key} failed: {result.error}" + (f" (at {where})" if where else "")


_PASS, _SKIP, _MUTATE = (Row("pass"),), (Row("skip"),), (Row("mutate"),)


def rows(result: RuleResult, message_format: str | None = None) -> tuple[Row, ...]:
    """The rows of a rule result: one per violation (its outcome from the rule's action and the
    violation's level), the error, the patch of a mutation, or a single bare row."""
    verdict = result.result
    if verdict == "pass":  # most results: shared rows, nothing built
        return _MUTATE if result.patch else _PASS
    if verdict == "skip":
        return _SKIP
    if verdict == "error":
        return (Row("error", format_message(message_format, error_message(result), result)),)
    if verdict == "excepted":
        why = f" ({result.exception.describe()})" if result.exception is not None else ""
        return tuple(Row("excepted", v.message + why, v.path) for v in result.violations)
    if result.violations:
        found = []
        for v in result.violations:
            outcome: Reported
            if result.action == "audit":
                outcome = "audit"
            elif result.action == "enforce" and v.level == "deny":
                outcome = "fail"
            else:
                outcome = "warn"
            message = v.message if message_format is None else format_message(
                message_format, v.message, result
            )
            found.append(Row(outcome, message, v.path))
        return tuple(found)
    return _PASS


def worst(found: Sequence[Row]) -> Reported:
    if len(found) == 1:
        return found[0].outcome
    return max((row.outcome for row in found), key=_WORST.__getitem__, default="pass")


@dataclass(frozen=True, slots=True)
class Checked:
    """A manifest and the decision about it (and the object as stored, when asked for)."""

    manifest: Manifest
    decision: Decision
    namespace: str = ""
    stored: Mapping[str, Any] | None = None

    @property
    def resource(self) -> dict[str, str]:
        obj = self.manifest.obj
        meta = obj.get("metadata") or {}
        return {
            "apiVersion": str(obj.get("apiVersion", "")),
            "kind": str(obj.get("kind", "")),
            "namespace": str(meta.get("namespace") or self.namespace),
            "name": str(meta.get("name") or meta.get("generateName") or ""),
        }

    @property
    def label(self) -> str:
        """`Pod default/web` (a cluster-scoped object: `Namespace team-a`)."""
        r = self.resource
        where = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]
        return f"{r['kind']} {where}"

    @property
    def object_path(self) -> str:
        """`Pod/default/web`: the object as one path (cluster-scoped: `Namespace/team-a`)."""
        r = self.resource
        return "/".join(p for p in (r["kind"], r["namespace"], r["name"]) if p)

    @property
    def source(self) -> dict[str, Any]:
        m = self.manifest
        return {"file": m.source, "line": m.line, "document": m.document}

    @property
    def from_stdin(self) -> bool:
        return self.manifest.source == STDIN_LABEL

    def case_name(self, result: RuleResult) -> str:
        """`pods.yaml:12 Pod/default/web policy/rule`: what names a result in test reports."""
        return f"{self.manifest.where} {self.object_path} {result.key}"


@dataclass(frozen=True, slots=True)
class Report:
    """Everything an output format may show: what was checked, what was skipped or could not
    be read, the rules (for formats that describe them) and how messages are worded."""

    checked: Sequence[Checked]
    policy_set: PolicySet
    errors: Sequence[InputError] = ()
    skipped: Sequence[Skipped] = ()
    message_format: str | None = None
    fail_on_warn: bool = False
    _results: list[tuple[Checked, RuleResult, tuple[Row, ...]]] = field(
        default_factory=list, compare=False, repr=False
    )

    def results(self) -> list[tuple[Checked, RuleResult, tuple[Row, ...]]]:
        """Every rule result with its rows, in input order (built once, on first use)."""
        if not self._results and self.checked:
            fmt = self.message_format
            self._results.extend(
                (item, r, rows(r, fmt)) for item in self.checked for r in item.decision.results
            )
        return self._results

    def summary(self) -> dict[str, int]:
        """How many rule results had each outcome (the worst of their rows)."""
        counts: dict[str, int] = dict.fromkeys(REPORTED, 0)
        for _, _, found in self.results():
            counts[worst(found)] += 1
        return counts

    def failing(self, outcome: Reported) -> bool:
        """Whether a row with this outcome fails the run: `fail` and `error` as the webhook
        would deny them, `warn` too with --fail-on-warn."""
        return outcome in ("fail", "error") or (self.fail_on_warn and outcome == "warn")

    @property
    def exit_code(self) -> int:
        """0 nothing failed, 1 an enforced rule denied (or, with --fail-on-warn, the webhook
        would have warned), 2 some input could not be used."""
        if self.errors:
            return InputError.exit_code
        for item in self.checked:
            decision = item.decision
            if not decision.allowed or (self.fail_on_warn and decision.warnings):
                return 1
        return 0

    def headline(self) -> str:
        counts = self.summary()
        parts = [f"{counts[o]} {o}" for o in REPORTED if counts[o]] or ["no rule applied"]
        noun = "resource" if len(self.checked) == 1 else "resources"
        line = f"{len(self.checked)} {noun} checked: {', '.join(parts)}"
        if self.skipped:
            line += f"; {len(self.skipped)} skipped (not Kubernetes objects)"
        if self.errors:
            line += f"; {len(self.errors)} unreadable"
        return line


def to_json(report: Report) -> dict[str, Any]:
    """The documented JSON document (see docs/ci.md)."""
    results = [
        {
            "source": item.source,
            "resource": item.resource,
            "policy": r.policy,
            "rule": r.rule,
            "result": row.outcome,
            "action": r.action,
            "message": row.message,
            "path": row.path,
            "patch": list(r.patch) if r.patch else None,
        }
        for item, r, found in report.results()
        for row in found
    ]
    document: dict[str, Any] = {"results": results, "summary": report.summary()}
    if report.policy_set.exceptions:
        document["exceptions"] = exceptions_json(report.policy_set.exceptions)
    if report.skipped:
        document["skipped"] = [
            {"file": s.source, "line": s.line, "reason": s.reason} for s in report.skipped
        ]
    if report.errors:
        document["errors"] = [str(e) for e in report.errors]
    return document
