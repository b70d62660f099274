"""The one offline review: the AdmissionRequest kube-apiserver would send for a manifest, and
the `Request` the webhook would build of it, so `admit check`, `admit test`, `admit.testing`,
`admit audit` and the console's playground evaluate exactly what the webhook would."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from admit.core.cluster import EMPTY_CLUSTER, Cluster
from admit.core.kinds import Kinds
from admit.core.review import Request

DEFAULT_USER: Mapping[str, Any] = {"username": "admit-check", "groups": ["system:authenticated"]}


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def admission_request(
    obj: Mapping[str, Any] | None,
    *,
    kinds: Kinds,
    operation: str = "CREATE",
    namespace: str = "default",
    old_object: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionRequest (the `request` of an AdmissionReview v1) for a manifest.

    `kinds` give the resource name and scope of the object's kind; a kind they do not know is
    taken as namespaced, with an empty resource name (no rule names such a kind but `*`)."""
    subject = obj if obj is not None else old_object
    if subject is None:
        raise ValueError("an admission request needs an object or an old object")
    kind = str(subject.get("kind", ""))
    group, version = split_api_version(str(subject.get("apiVersion", "")))
    metadata = subject.get("metadata") or {}
    known = kinds.find(group, version, kind)
    if known is not None and not known.namespaced:
        ns = metadata.get("name", "") if (group, kind) == ("", "Namespace") else ""
    else:
        ns = metadata.get("namespace") or namespace
    plural = known.plural if known is not None else ""
    resource = {"group": group, "version": version, "resource": plural}
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


def review_of(
    obj: Mapping[str, Any] | None,
    *,
    kinds: Kinds,
    operation: str = "CREATE",
    namespace: str = "default",
    old_object: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    cluster: Cluster = EMPTY_CLUSTER,
    namespace_labels: Mapping[str, str] | None = None,
) -> Request:
    """The `Request` for `obj` sent as `operation` (on DELETE, `obj` is what is deleted: the
    old object), with the cluster its rules may read; `evaluate` it with a policy set."""
    deleting = operation == "DELETE"
    raw = admission_request(
        None if deleting else obj,
        kinds=kinds,
        operation=operation,
        namespace=namespace,
        old_object=(old_object or obj) if deleting else old_object,
        user=user,
    )
    return Request(raw, cluster=cluster, namespace_labels=namespace_labels)
