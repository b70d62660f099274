"""Helm values that make the chart in deploy/helm/admit install a bundle as `admit manifests`
does: the bundle's files, the webhook rules its rules need, the kinds they read, and the digest
of the files those rules were written for. The chart computes the same digest over the files it
is given and warns (NOTES.txt) when they differ, so rules added to a bundle never go
unregistered unnoticed. Pure; `admit manifests --helm-values` prints these values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from admit.core.engine import PolicySet
from admit.kube.install import audit_reads, cluster_reads
from admit.kube.webhooks import WEBHOOK_KINDS, admission_rules


def defines_rules(path: str) -> bool:
    """Whether a bundle file can change what its rules match: Python modules and admit.yaml
    (its `kinds:`), not data, test cases or documentation."""
    return path.endswith(".py") or path == "admit.yaml"


def files_digest(files: Mapping[str, str]) -> str:
    """SHA-256 of the path and text of each file that `defines_rules`, NUL-terminated, in path
    order: what the chart's "admit.bundleDigest" computes over the files it is given."""
    digest = hashlib.sha256()
    for path in sorted(filter(defines_rules, files)):
        digest.update(f"{path}\0{files[path]}\0".encode())
    return digest.hexdigest()


def helm_values(policy_set: PolicySet, files: Mapping[str, str]) -> dict[str, Any]:
    """Values for the chart: `bundle.files`, `webhooks` (rules per webhook and the digest of
    the files they were written for) and `reads`, all from `policy_set`, loaded from `files`."""
    webhooks: dict[str, Any] = {"bundleDigest": files_digest(files)}
    for rule_type in WEBHOOK_KINDS:
        rules = (r for r in policy_set.rules if r.type == rule_type)
        webhooks[rule_type] = {"rules": admission_rules(rules, policy_set.kinds)}
    return {
        "bundle": {"files": dict(sorted(files.items()))},
        "webhooks": webhooks,
        "reads": [{"apiGroup": g, "resource": r} for g, r in cluster_reads(policy_set)],
        # what the audit lists and watches, when the chart's `audit.interval` turns it on
        "auditReads": [{"apiGroup": g, "resource": r} for g, r in audit_reads(policy_set)],
    }
