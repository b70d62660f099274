"""Policy reports: what an audit found, in the formats the ecosystem reads.

OpenReports (`openreports.io/v1alpha1` `Report` per namespace, `ClusterReport` for cluster-scoped
objects) by default, or the older wgpolicyk8s (`wgpolicyk8s.io/v1alpha2` `PolicyReport` and
`ClusterPolicyReport`) that Kyverno's and Policy Reporter's users read: one report per
namespace with a summary, and one result per policy, rule and object that did not pass.

A rule's verdict on an object becomes one `Finding`: `pass`, `fail` (a violation that denies),
`warn` (only `admit.warn()` findings), `error`, or `skip` for an excepted object (the exception
in its properties). Passes are counted in the summary but not listed, and a report lists at most
`MAX_RESULTS` results (etcd keeps an object under 1.5 MiB), saying how many it left out. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from admit.core.decision import Decision
from admit.core.rules import Rule

ReportApi = Literal["openreports", "wgpolicyk8s"]
REPORT_APIS: tuple[ReportApi, ...] = ("openreports", "wgpolicyk8s")
ReportResult = Literal["pass", "fail", "warn", "error", "skip"]
RESULTS: tuple[ReportResult, ...] = ("pass", "fail", "warn", "error", "skip")

API_VERSIONS: Mapping[ReportApi, str] = {
    "openreports": "openreports.io/v1alpha1",
    "wgpolicyk8s": "wgpolicyk8s.io/v1alpha2",
}
KINDS: Mapping[ReportApi, tuple[str, str]] = {  # (namespaced, cluster-scoped)
    "openreports": ("Report", "ClusterReport"),
    "wgpolicyk8s": ("PolicyReport", "ClusterPolicyReport"),
}
PLURALS: Mapping[ReportApi, tuple[str, str]] = {
    "openreports": ("reports", "clusterreports"),
    "wgpolicyk8s": ("policyreports", "clusterpolicyreports"),
}
SOURCE = "admit"
REPORT_NAME = "admit-audit"  # each namespace's report (and the cluster's) has this name
MANAGED_BY = {"app.kubernetes.io/managed-by": "admit"}
OMITTED = "admit.dev/results-omitted"  # annotation: results left out past MAX_RESULTS
MAX_RESULTS = 2000


class Subject(NamedTuple):
    """The object a finding is about (an ObjectReference)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any], namespace: str = "") -> Subject:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or namespace),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
        )

    def reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


class Finding(NamedTuple):
    """One rule's verdict on one object, as a report states it."""

    policy: str
    rule: str
    result: ReportResult
    message: str = ""
    severity: str | None = None
    category: str = ""
    properties: tuple[tuple[str, str], ...] = ()


class Audited(NamedTuple):
    """An object and what the audit found of it, when: the findings that did not pass, and
    how many passed (an audit of 100,000 objects keeps no finding per passing rule)."""

    subject: Subject
    findings: tuple[Finding, ...]
    time: float
    passed: int = 0

    @classmethod
    def of(
        cls, subject: Subject, decision: Decision, rules: Mapping[str, Rule], when: float
    ) -> Audited:
        found = findings(decision, rules)
        failed = tuple(f for f in found if f.result != "pass")
        return cls(subject, failed, when, len(found) - len(failed))

    def same(self, other: Audited | None) -> bool:
        """Whether `other` found the same (at any time)."""
        return other is not None and (self.findings, self.passed) == (other.findings, other.passed)


def findings(decision: Decision, rules: Mapping[str, Rule]) -> tuple[Finding, ...]:
    """The findings of a background check's decision (`rules` by key give severity and
    category); rules that did not apply make none."""
    found = []
    for r in decision.results:
        if r.result == "skip":
            continue
        rule = rules.get(r.key)
        severity = rule.severity if rule is not None else None
        category = rule.category if rule is not None else ""
        props: list[tuple[str, str]] = [("action", r.action)]
        message = "; ".join(v.message for v in r.violations)
        paths = [v.path for v in r.violations if v.path]
        if paths:
            props.append(("path", ", ".join(paths)))
        result: ReportResult
        if r.result == "pass":
            result, message = "pass", ""
        elif r.result == "error":
            result, message = "error", f"rule {r.key} failed: {r.error}"
        elif r.result == "excepted":
            result = "skip"
            if r.exception is not None:
                e = r.exception
                message = f"{e.describe()}: {message}"
                props += [("exception", e.name), ("owner", e.owner), ("expires", e.expires_text),
                          ("reason", e.reason)]  # fmt: skip
        elif any(v.level == "deny" for v in r.violations):
            result = "fail"
        else:
            result = "warn"
        found.append(Finding(r.policy, r.rule, result, message, severity, category, tuple(props)))
    return tuple(found)


def summary(audited: Iterable[Audited]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
    for item in audited:
        counts["pass"] += item.passed
        for f in item.findings:
            counts[f.result] += 1
    return counts


def _result(item: Audited, f: Finding) -> dict[str, Any]:
    seconds = int(item.time)
    result: dict[str, Any] = {
        "source": SOURCE,
        "policy": f.policy,
        "rule": f.rule,
        "result": f.result,
        "scored": True,
        "timestamp": {"seconds": seconds, "nanos": int((item.time - seconds) * 1e9)},
        "resources": [item.subject.reference()],
    }
    if f.message:
        result["message"] = f.message
    if f.severity:
        result["severity"] = f.severity
    if f.category:
        result["category"] = f.category
    if f.properties:
        result["properties"] = dict(f.properties)
    return result


def _order(item: Audited, f: Finding) -> tuple[str, ...]:
    s = item.subject
    return (f.policy, f.rule, s.kind, s.name, s.api_version)


def report(
    audited: Iterable[Audited], namespace: str, api: ReportApi = "openreports"
) -> dict[str, Any]:
    """The report of one namespace's objects ("" for cluster-scoped ones)."""
    items = list(audited)
    listed = sorted(
        ((item, f) for item in items for f in item.findings if f.result != "pass"),
        key=lambda pair: _order(*pair),
    )
    namespaced, cluster = KINDS[api]
    metadata: dict[str, Any] = {"name": REPORT_NAME}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(MANAGED_BY)
    if len(listed) > MAX_RESULTS:
        metadata["annotations"] = {OMITTED: str(len(listed) - MAX_RESULTS)}
        listed = listed[:MAX_RESULTS]
    document: dict[str, Any] = {
        "apiVersion": API_VERSIONS[api],
        "kind": namespaced if namespace else cluster,
        "metadata": metadata,
    }
    if api == "openreports":
        document["source"] = SOURCE
    document["summary"] = summary(items)
    document["results"] = [_result(item, f) for item, f in listed]
    return document


def reports(audited: Iterable[Audited], api: ReportApi = "openreports") -> list[dict[str, Any]]:
    """One report per namespace that has audited objects (and one for cluster-scoped
    objects), sorted with the cluster's first."""
    by_namespace: dict[str, list[Audited]] = {}
    for item in audited:
        by_namespace.setdefault(item.subject.namespace, []).append(item)
    return [report(by_namespace[ns], ns, api) for ns in sorted(by_namespace)]


def tally(audited: Iterable[Audited]) -> dict[tuple[str, str, str], int]:
    """Findings that did not pass, by (policy, namespace, result): the audit's metrics."""
    counts: dict[tuple[str, str, str], int] = {}
    for item in audited:
        for f in item.findings:
            if f.result != "pass":
                key = (f.policy, item.subject.namespace, f.result)
                counts[key] = counts.get(key, 0) + 1
    return counts


__all__ = [
    "API_VERSIONS",
    "KINDS",
    "MAX_RESULTS",
    "PLURALS",
    "REPORT_APIS",
    "REPORT_NAME",
    "Audited",
    "Finding",
    "ReportApi",
    "Subject",
    "findings",
    "report",
    "reports",
    "summary",
    "tally",
]
