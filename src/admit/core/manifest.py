"""The AdmissionRequest kube-apiserver would send for a manifest, so `admit check` and
`admit test` evaluate exactly what the webhook would."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from admit.core.workloads import plural

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "IPAddress",
        "ServiceCIDR",
    }
)

DEFAULT_USER: Mapping[str, Any] = {"username": "admit-check", "groups": ["system:authenticated"]}


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def admission_request(
    obj: Mapping[str, Any] | None,
    *,
    operation: str = "CREATE",
    namespace: str = "default",
    old_object: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionRequest (the `request` of an AdmissionReview v1) for a manifest."""
    subject = obj if obj is not None else old_object
    if subject is None:
        raise ValueError("an admission request needs an object or an old object")
    kind = str(subject.get("kind", ""))
    group, version = split_api_version(str(subject.get("apiVersion", "")))
    metadata = subject.get("metadata") or {}
    if kind in CLUSTER_SCOPED:
        ns = metadata.get("name", "") if kind == "Namespace" else ""
    else:
        ns = metadata.get("namespace") or namespace
    resource = {"group": group, "version": version, "resource": plural(kind)}
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": resource,
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": resource,
        "name": metadata.get("name", ""),
        "operation": operation,
        "userInfo": dict(user or DEFAULT_USER),
        "object": obj,
        "oldObject": old_object,
        "dryRun": dry_run,
    }
    if ns:
        request["namespace"] = ns
    return request
