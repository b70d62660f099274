"""The webhook registrations of an install: which API requests kube-apiserver sends to admit.

`admission_rules` turns the `Match.kinds` and operations of a bundle's rules into the
`admissionregistration.k8s.io/v1` rules of a Validating/MutatingWebhookConfiguration, so the
apiserver calls admit only for what some rule can judge. It may over-approximate (the engine
filters again) but must never leave out a request a rule matches: a Pod rule also brings the
workload kinds whose pod templates it judges. Pure; called by `admit.kube.manifests`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from admit.core.engine import PolicySet
from admit.core.match import KindPattern
from admit.core.rules import Rule
from admit.core.workloads import POD_TEMPLATES, plural
from admit.kube.options import SERVICE_PORT, InstallOptions

OPERATION_ORDER = ("CREATE", "UPDATE", "DELETE", "CONNECT")
WEBHOOK_DOMAIN = "admit.dev"
WEBHOOK_KINDS = {
    "validate": "ValidatingWebhookConfiguration",
    "mutate": "MutatingWebhookConfiguration",
}
GLOB_CHARS = frozenset("*?[")

# Built-in kinds and the API groups that serve them, so that a bare kind ("Pod", "Ingress")
# registers for its own group only. A bare kind not listed here registers for every group.
# Resources default to `plural(kind)`; irregular plurals are listed with the groups.
BUILTIN_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Pod": ("pods", ("",)),
    "Service": ("services", ("",)),
    "ConfigMap": ("configmaps", ("",)),
    "Secret": ("secrets", ("",)),
    "Namespace": ("namespaces", ("",)),
    "Node": ("nodes", ("",)),
    "ServiceAccount": ("serviceaccounts", ("",)),
    "PersistentVolume": ("persistentvolumes", ("",)),
    "PersistentVolumeClaim": ("persistentvolumeclaims", ("",)),
    "Endpoints": ("endpoints", ("",)),
    "LimitRange": ("limitranges", ("",)),
    "ResourceQuota": ("resourcequotas", ("",)),
    "Event": ("events", ("", "events.k8s.io")),
    "Ingress": ("ingresses", ("networking.k8s.io",)),
    "IngressClass": ("ingressclasses", ("networking.k8s.io",)),
    "NetworkPolicy": ("networkpolicies", ("networking.k8s.io",)),
    "Role": ("roles", ("rbac.authorization.k8s.io",)),
    "RoleBinding": ("rolebindings", ("rbac.authorization.k8s.io",)),
    "ClusterRole": ("clusterroles", ("rbac.authorization.k8s.io",)),
    "ClusterRoleBinding": ("clusterrolebindings", ("rbac.authorization.k8s.io",)),
    "PodDisruptionBudget": ("poddisruptionbudgets", ("policy",)),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", ("autoscaling",)),
    "ControllerRevision": ("controllerrevisions", ("apps",)),
    "StorageClass": ("storageclasses", ("storage.k8s.io",)),
    "CustomResourceDefinition": ("customresourcedefinitions", ("apiextensions.k8s.io",)),
    **{kind: (plural(kind), (group,)) for group, kind in POD_TEMPLATES},
}

_Target = tuple[str, str, str]  # (apiGroup, apiVersion, resource), each possibly "*"


def _is_glob(text: str) -> bool:
    return bool(GLOB_CHARS & set(text))


def resource_of(kind: str) -> str:
    """The resource name of a kind (built-in irregular plurals included)."""
    return BUILTIN_KINDS.get(kind, (plural(kind), ()))[0]


def _targets(pattern: KindPattern) -> list[_Target]:
    """Where requests of `pattern` arrive, as (group, version, resource) triples."""
    version = "*" if _is_glob(pattern.version) else pattern.version
    if _is_glob(pattern.kind):
        groups: tuple[str, ...] = ("*",)
        resource = "*"
    else:
        resource, known = BUILTIN_KINDS.get(pattern.kind, (plural(pattern.kind), ("*",)))
        groups = known if pattern.group == "*" else (pattern.group,)
        if _is_glob(pattern.group):
            groups = tuple(g for g in known if fnmatchcase(g, pattern.group)) or ("*",)
    if pattern.subresource:
        sub = "*" if _is_glob(pattern.subresource) else pattern.subresource
        resource = f"{resource}/{sub}"
    targets = [(group, version, resource) for group in groups]
    if pattern.kind == "Pod" and not pattern.subresource and pattern.covers("", "v1", "Pod"):
        # The engine judges the pod templates of workloads with Pod rules (core.workloads).
        targets += [(group, "*", plural(kind)) for group, kind in POD_TEMPLATES]
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


def admission_rules(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The admissionregistration rules covering every request that `rules` can match.

    One entry per (operations, group, version), with the resources merged: an entry's groups,
    versions and resources combine as a cross product, so merging groups would widen it.
    """
    merged: dict[tuple[tuple[str, ...], str, str], set[str]] = {}
    for rule in rules:
        if rule.match is None:
            continue
        operations = _operations(rule)
        for pattern in rule.match.kinds:
            for group, version, resource in _targets(pattern):
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
        rules = admission_rules(r for r in policy_set.rules if r.type == rule_type)
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
