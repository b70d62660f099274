"""The webhook registrations of an install: which API requests kube-apiserver sends to admit.

`admission_rules` turns the resolved `Match.kinds` and operations of a bundle's rules into the
`admissionregistration.k8s.io/v1` rules of a Validating/MutatingWebhookConfiguration, so the
apiserver calls admit only for what some rule can judge. It may over-approximate (the engine
filters again) but must never leave out a request a rule matches: a Pod rule also brings the
workload kinds whose pod templates it judges and the pod subresources that rewrite a pod.
Resource names come from the kinds the bundle was loaded against, never from a guess. Pure;
called by `admit.kube.install`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from admit.core.engine import PolicySet
from admit.core.kinds import Kinds
from admit.core.match import ANY_RESOURCE, SPEC_SUBRESOURCES, KindPattern
from admit.core.rules import Rule
from admit.core.workloads import POD_TEMPLATES
from admit.kube.options import SERVICE_PORT, InstallOptions

OPERATION_ORDER = ("CREATE", "UPDATE", "DELETE", "CONNECT")
WEBHOOK_DOMAIN = "admit.dev"
WEBHOOK_KINDS = {
    "validate": "ValidatingWebhookConfiguration",
    "mutate": "MutatingWebhookConfiguration",
}
GLOB_CHARS = frozenset("*?[")

_Target = tuple[str, str, str]  # (apiGroup, apiVersion, resource), each possibly "*"


def _is_glob(text: str) -> bool:
    return bool(GLOB_CHARS & set(text))


def _targets(pattern: KindPattern, kinds: Kinds) -> list[_Target]:
    """Where requests of `pattern` (resolved) arrive, as (group, version, resource) triples."""
    if pattern.resources is None:
        raise ValueError(f"kind {str(pattern)!r} was not resolved against the API's kinds")
    version = "*" if _is_glob(pattern.version) else pattern.version
    if ANY_RESOURCE in pattern.resources:
        named = [("*" if _is_glob(pattern.group) else pattern.group, "*")]
    else:
        named = sorted(pattern.resources)
    sub = "*" if _is_glob(pattern.subresource) else pattern.subresource
    targets = [(group, version, f"{plural}/{sub}" if sub else plural) for group, plural in named]
    if pattern.subresource:
        return targets
    for (group, plural), rewriting in sorted(SPEC_SUBRESOURCES.items()):
        if (group, plural) in pattern.resources or (
            ANY_RESOURCE in pattern.resources and fnmatchcase(group, pattern.group)
        ):
            targets += [(group, version, f"{plural}/{name}") for name in sorted(rewriting)]
    if pattern.kind == "Pod" and pattern.covers("", "v1", "Pod"):
        # The engine judges the pod templates of workloads with Pod rules (core.workloads).
        for group, kind in POD_TEMPLATES:
            found = kinds.find(group, "", kind)
            if found is None:
                raise ValueError(f"the API's kinds lack {kind} ({group or 'core'})")
            targets.append((group, "*", found.plural))
    return targets


def _operations(rule: Rule) -> tuple[str, ...]:
    assert rule.match is not None
    ops = rule.match.operations or frozenset(OPERATION_ORDER)
    return tuple(op for op in OPERATION_ORDER if op in ops)


def _compact(resources: set[str]) -> list[str]:
    """Drop names that a wildcard in the same set already covers."""
    if "*/*" in resources:
        return ["*/*"]
    if "*" in resources:
        resources = {r for r in resources if "/" in r} | {"*"}
    return sorted(resources)


def admission_rules(rules: Iterable[Rule], kinds: Kinds) -> list[dict[str, Any]]:
    """The admissionregistration rules covering every request that `rules` (resolved against
    `kinds`) can match.

    One entry per (operations, group, version), with the resources merged: an entry's groups,
    versions and resources combine as a cross product, so merging groups would widen it.
    """
    merged: dict[tuple[tuple[str, ...], str, str], set[str]] = {}
    for rule in rules:
        if rule.match is None:
            continue
        operations = _operations(rule)
        for pattern in rule.match.kinds:
            for group, version, resource in _targets(pattern, kinds):
                merged.setdefault((operations, group, version), set()).add(resource)
    return [
        {
            "apiGroups": [group],
            "apiVersions": [version],
            "operations": list(operations),
            "resources": _compact(resources),
            "scope": "*",
        }
        for (operations, group, version), resources in sorted(merged.items(), key=_order)
    ]


def _order(item: tuple[tuple[tuple[str, ...], str, str], set[str]]) -> tuple[Any, ...]:
    (operations, group, version), _ = item
    return (tuple(OPERATION_ORDER.index(op) for op in operations), group, version)


def client_config(options: InstallOptions, path: str) -> dict[str, Any]:
    """How kube-apiserver reaches `path`: the in-cluster Service, or `webhook_url` when set."""
    config: dict[str, Any] = {"caBundle": base64.b64encode(options.ca.cert_pem).decode("ascii")}
    if options.webhook_url:
        config["url"] = options.webhook_url.rstrip("/") + path
    else:
        config["service"] = {
            "namespace": options.namespace,
            "name": options.service,
            "path": path,
            "port": SERVICE_PORT,
        }
    return config


def namespace_selector(namespace: str) -> dict[str, Any]:
    """Skip admit's own namespace (so admit can always start its pods, even when it is down and
    the failure policy is Fail) and kube-system (so the control plane never waits on admit)."""
    values = list(dict.fromkeys([namespace, "kube-system"]))
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": values}
        ]
    }


def webhook_configurations(policy_set: PolicySet, options: InstallOptions) -> list[dict[str, Any]]:
    """A ValidatingWebhookConfiguration if the bundle has validate rules, a Mutating one if it
    has mutate rules; a bundle of decisions only registers no webhook at all."""
    configurations = []
    for rule_type, kind in WEBHOOK_KINDS.items():
        rules = admission_rules(
            (r for r in policy_set.rules if r.type == rule_type), policy_set.kinds
        )
        if not rules:
            continue
        webhook: dict[str, Any] = {
            "name": f"{rule_type}.{WEBHOOK_DOMAIN}",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "clientConfig": client_config(options, f"/{rule_type}"),
            "rules": rules,
            "failurePolicy": options.failure_policy,
            "matchPolicy": "Equivalent",
            "namespaceSelector": namespace_selector(options.namespace),
            "sideEffects": "None",
            "timeoutSeconds": options.timeout_seconds,
        }
        if rule_type == "mutate":
            # Called again when a later webhook changed the object, so admit's defaults also
            # reach what others added; admit's mutations are idempotent by contract.
            webhook["reinvocationPolicy"] = "IfNeeded"
        configurations.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": options.metadata(options.cluster_name, namespaced=False),
                "webhooks": [webhook],
            }
        )
    return configurations
