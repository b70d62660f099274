"""Background checks: judging objects that already exist, as audits do (Gatekeeper's audit,
Kyverno's background scan), through the same `evaluate` as the webhook.

An existing object is judged as the AdmissionRequest that would create it, with no user (no one
is asking) and validations only (nothing is written, so nothing is mutated). Rules that cannot be
judged so are left out, each with the reason: those matching on users or groups, those that
judge only UPDATE, DELETE or CONNECT requests, and those about subresources. `audited_kinds`
says which resources a cluster audit lists: those the remaining rules name (a Pod rule also
the workloads whose pod templates it judges). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from admit.core.cluster import EMPTY_CLUSTER, Cluster
from admit.core.decision import Decision
from admit.core.engine import PolicySet, evaluate
from admit.core.kinds import ApiResource
from admit.core.match import ANY_RESOURCE
from admit.core.offline import review_of
from admit.core.review import Request
from admit.core.rules import Rule
from admit.core.workloads import POD_TEMPLATES


@dataclass(frozen=True, slots=True)
class Background:
    """The rules a background check runs, and those it leaves out with why."""

    policy_set: PolicySet
    skipped: tuple[tuple[str, str], ...] = ()  # (rule key, why it cannot judge existing objects)


def _why_not(rule: Rule) -> str | None:
    match = rule.match
    if match is None:
        return None
    if match.users or match.groups or match.exclude_users or match.exclude_groups:
        return "it matches on users or groups, and an existing object has no requesting user"
    if match.operations and "CREATE" not in match.operations:
        judged = ", ".join(sorted(match.operations))
        return f"it judges only {judged} requests, not objects as they stand"
    if match.kinds and all(p.subresource for p in match.kinds):
        return "it judges requests to subresources, which have no objects to list"
    return None


def background(policy_set: PolicySet) -> Background:
    """The validating rules of `policy_set` that can judge existing objects."""
    kept: list[Rule] = []
    skipped: list[tuple[str, str]] = []
    for rule in policy_set.rules:
        if rule.type != "validate":
            continue
        why = _why_not(rule)
        if why is None:
            kept.append(rule)
        else:
            skipped.append((rule.key, why))
    return Background(policy_set.with_rules(kept), tuple(skipped))


def background_request(
    obj: Mapping[str, Any],
    policy_set: PolicySet,
    *,
    cluster: Cluster = EMPTY_CLUSTER,
    namespace: str = "default",
) -> Request:
    """The request an existing object is judged as: a CREATE of it, asked by no one."""
    request = review_of(obj, kinds=policy_set.kinds, namespace=namespace, cluster=cluster)
    raw = dict(request.raw, userInfo={})
    raw["uid"] = str((obj.get("metadata") or {}).get("uid") or raw["uid"])
    return Request(raw, cluster=cluster)


def audit_object(
    obj: Mapping[str, Any],
    checks: Background,
    *,
    cluster: Cluster = EMPTY_CLUSTER,
    namespace: str = "default",
) -> Decision:
    """The background check of one existing object: its validations, judged as a CREATE."""
    request = background_request(obj, checks.policy_set, cluster=cluster, namespace=namespace)
    return evaluate(checks.policy_set, request, phase="validate")


def audited_kinds(policy_set: PolicySet) -> list[ApiResource]:
    """The resources a cluster audit lists for `policy_set` (a `background` set): each kind
    its rules name, at the version the API prefers, and for a Pod rule the workloads with pod
    templates. A rule for every kind (`*`) judges what is listed for the others."""
    wanted: dict[tuple[str, str], None] = {}
    for rule in policy_set.rules:
        for pattern in rule.match.kinds if rule.match is not None else ():
            if (
                pattern.subresource
                or pattern.resources is None
                or ANY_RESOURCE in pattern.resources
            ):
                continue
            wanted.update(dict.fromkeys(pattern.resources))
            if pattern.covers("", "v1", "Pod"):
                for group, kind in POD_TEMPLATES:
                    found = policy_set.kinds.find(group, "v1", kind)
                    if found is not None:
                        wanted[(found.group, found.plural)] = None
    preferred: dict[tuple[str, str], ApiResource] = {}
    for resource in policy_set.kinds:  # sorted with the preferred version first
        key = (resource.group, resource.plural)
        if key in wanted and key not in preferred:
            preferred[key] = resource
    return [preferred[key] for key in wanted if key in preferred]


__all__ = ["Background", "audit_object", "audited_kinds", "background", "background_request"]
