"""Everything an install of admit needs, as Kubernetes objects (plain dicts), in apply order.

`build_manifests(policy_set, options)` is what `admit manifests` prints; the Helm chart in
deploy/helm/admit renders the same objects (a test compares them). Like kopf's
`build_webhooks()` it does no I/O: the bundle's files and the certificates arrive in
`InstallOptions`, read by the caller (`bundle_files`, `admit.kube.certs`). Webhook
configurations come last, so a `kubectl apply` creates the server before routing writes to it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from admit.core.background import audited_kinds, background
from admit.core.engine import PolicySet
from admit.core.reports import API_VERSIONS, PLURALS
from admit.kube.options import (
    CONSOLE_PORT,
    DEFAULT_IMAGE,
    HTTPS_PORT,
    SERVICE_PORT,
    InstallOptions,
)
from admit.kube.webhooks import webhook_configurations
from admit.kube.workload import (
    BUNDLE_MOUNT,
    POLICY_LABEL,
    TLS_MOUNT,
    deployment,
    pod_disruption_budget,
    service,
)
from admit.loading import loader

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data the apiserver accepts in one ConfigMap
_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")

Object = dict[str, Any]


def bundle_files(root: str | Path) -> dict[str, str]:
    """The bundle's text files, by relative POSIX path, as they go into its ConfigMap.

    Skips what the loader skips (hidden files and directories, `__pycache__`, `venv`,
    `node_modules`) and binary files (not UTF-8, or holding NUL bytes), which a ConfigMap's
    `data` cannot hold and a bundle does not load. See `configmap_key` for the key of each.
    """
    base = Path(root)
    files = {}
    for path in loader.bundle_files(base):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "\0" not in text:
            files[path.relative_to(base).as_posix()] = text
    return files


def configmap_key(path: str) -> str:
    """The ConfigMap key of a bundle file: keys cannot hold "/", so a file in a subdirectory is
    flattened, `dir/sub/file.py` -> `dir__sub__file.py`. The Deployment's volume maps every key
    back to its path (`items`), so the server sees the bundle's own layout."""
    key = path.replace("/", "__")
    if not _KEY.match(key):
        raise ValueError(
            f"bundle file {path!r} cannot be stored in a ConfigMap: keys hold only a-z, A-Z, "
            "0-9, '-', '_' and '.', at most 253 characters"
        )
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def namespace(options: InstallOptions) -> Object:
    """admit's own namespace; admit's pods meet the `restricted` Pod Security Standard."""
    meta = options.metadata(options.namespace, namespaced=False)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(options: InstallOptions, api_token: bool) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": options.metadata(options.service),
        # No API token in the pod unless some Role below grants it something to use it for.
        "automountServiceAccountToken": api_token,
    }


def cluster_reads(
    policy_set: PolicySet, more: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The (API group, resource) pairs the server's cluster cache watches: the kinds the
    bundle's rules declare with `reads=` (resolved by the loader to one resource each), and
    `more` (`InstallOptions.reads`)."""
    found = dict.fromkeys(more)
    for pattern in policy_set.reads:
        if pattern.resources is None or len(pattern.resources) != 1:
            raise ValueError(
                f"reads={str(pattern)!r}: name the group, version and kind the server should "
                "watch, e.g. 'networking.k8s.io/v1/Ingress' or 'v1/Namespace'"
            )
        found[(pattern.group, pattern.plural)] = None
    return sorted(found)


def audit_reads(policy_set: PolicySet) -> list[tuple[str, str]]:
    """The (API group, resource) pairs `serve --audit-interval` lists and watches: the kinds the
    bundle's rules judge as background checks."""
    checks = background(policy_set)
    return sorted({(r.group, r.plural) for r in audited_kinds(checks.policy_set)})


def _reports_rule(options: InstallOptions) -> Object:
    group = API_VERSIONS[options.report_api].split("/")[0]
    return {
        "apiGroups": [group],
        "resources": sorted(PLURALS[options.report_api]),
        "verbs": ["create", "delete", "get", "list", "patch", "update"],
    }


def rbac(options: InstallOptions, reads: list[tuple[str, str]]) -> list[Object]:
    """Least privilege: nothing unless needed. ConfigMap sources may read and annotate (patch)
    ConfigMaps in admit's namespace only; the cluster cache may get/list/watch exactly `reads`;
    the audit (`audit_interval`; `reads` then includes what it lists) may also write its policy
    reports, and hold its Lease in admit's namespace."""
    subject = [{"kind": "ServiceAccount", "name": options.service, "namespace": options.namespace}]
    objects: list[Object] = []
    if options.audit_interval:
        name = f"{options.service}-audit-lease"
        objects += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": options.metadata(name),
                "rules": [
                    {
                        "apiGroups": ["coordination.k8s.io"],
                        "resources": ["leases"],
                        "verbs": ["create", "get", "update"],
                    }
                ],
            },
            _binding("RoleBinding", "Role", name, options, subject),
        ]
    if options.configmap_sources:
        name = f"{options.service}-configmaps"
        objects += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": options.metadata(name),
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "verbs": ["get", "list", "watch", "patch"],
                    }
                ],
            },
            _binding("RoleBinding", "Role", name, options, subject),
        ]
    if reads or options.audit_interval:
        groups: dict[str, set[str]] = {}
        for group, resource in reads:
            groups.setdefault(group, set()).add(resource)
        name = options.cluster_name
        rules = [
            {"apiGroups": [g], "resources": sorted(r), "verbs": ["get", "list", "watch"]}
            for g, r in sorted(groups.items())
        ]
        if options.audit_interval:
            rules.append(_reports_rule(options))
        objects += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": options.metadata(name, namespaced=False),
                "rules": rules,
            },
            _binding("ClusterRoleBinding", "ClusterRole", name, options, subject),
        ]
    return objects


def _binding(
    kind: str, role_kind: str, name: str, options: InstallOptions, subjects: list[Object]
) -> Object:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": options.metadata(name, namespaced=kind == "RoleBinding"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": subjects,
    }


def bundle_configmap(options: InstallOptions) -> Object:
    """The bundle, one key per file. With ConfigMap sources it carries the label the server
    selects policy ConfigMaps by, and more such ConfigMaps may join it."""
    data: dict[str, str] = {}
    for path, text in sorted(options.files.items()):
        key = configmap_key(path)
        if key in data:
            raise ValueError(f"bundle files {path!r} and another one share ConfigMap key {key!r}")
        data[key] = text
    size = sum(len(k) + len(v.encode("utf-8")) for k, v in data.items())
    if size > CONFIGMAP_LIMIT:
        raise ValueError(
            f"the bundle's files take {size} bytes; a ConfigMap holds at most {CONFIGMAP_LIMIT}"
        )
    metadata = options.metadata(f"{options.service}-bundle")
    if options.configmap_sources:
        metadata["labels"][POLICY_LABEL] = "true"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def tls_secret(options: InstallOptions) -> Object:
    """The serving pair (and the CA's certificate, for clients in the cluster): never a CA key."""
    assert options.serving is not None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": options.metadata(f"{options.service}-tls"),
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": _b64(options.serving.cert_pem),
            "tls.key": _b64(options.serving.key_pem),
            "ca.crt": _b64(options.ca.cert_pem),
        },
    }


def build_manifests(policy_set: PolicySet, options: InstallOptions) -> list[Object]:
    """Every object of the install, in the order to apply them.

    With `options.webhook_url` admit runs outside the cluster (`admit serve` on a host the
    apiserver can reach): only the Namespace and the webhook configurations are rendered, no
    ServiceAccount, RBAC, ConfigMap, Secret, Service, Deployment or PodDisruptionBudget.
    """
    webhooks = webhook_configurations(policy_set, options)
    if options.webhook_url:
        return [namespace(options), *webhooks]
    reads = cluster_reads(policy_set, options.reads)
    if options.audit_interval:
        reads = sorted({*reads, *audit_reads(policy_set)})
    api_token = options.configmap_sources or bool(reads) or bool(options.audit_interval)
    configmap = bundle_configmap(options)
    items = [(configmap_key(path), path) for path in sorted(options.files)]
    pdb = pod_disruption_budget(options)
    return [
        namespace(options),
        service_account(options, api_token),
        *rbac(options, reads),
        configmap,
        tls_secret(options),
        service(options),
        deployment(options, items, api_token=api_token),
        *([pdb] if pdb else []),
        *webhooks,
    ]


__all__ = [
    "BUNDLE_MOUNT",
    "CONFIGMAP_LIMIT",
    "CONSOLE_PORT",
    "DEFAULT_IMAGE",
    "HTTPS_PORT",
    "POLICY_LABEL",
    "SERVICE_PORT",
    "TLS_MOUNT",
    "InstallOptions",
    "build_manifests",
    "bundle_files",
    "configmap_key",
]
