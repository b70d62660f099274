"""A cluster's discovery: every kind it serves, custom resources included, read with aggregated
discovery (`apidiscovery.k8s.io/v2`, Kubernetes 1.30+; `v2beta1` since 1.26): two requests,
`/api` and `/apis`, for the whole API.

`admit kinds` prints the kinds a cluster serves beyond the built-in ones as the `kinds:` block
of admit.yaml, so a bundle names its custom resources the same way offline (`admit check`,
`admit test`, `admit manifests`) and in the cluster; `load_bundle(..., kinds=...)` takes them
directly too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client

from admit.core.errors import AdmitError
from admit.core.kinds import ApiResource, Kinds

__all__ = ["ACCEPT", "ApiResource", "DiscoveryError", "custom", "declarations", "discover"]

ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
PATHS = ("/api", "/apis")


class DiscoveryError(AdmitError):
    """The cluster's discovery could not be read."""

    code = "discovery_error"
    exit_code = 2


async def discover(client: httpx.AsyncClient) -> list[ApiResource]:
    """Every resource the cluster serves, at every version it serves."""
    found: list[ApiResource] = []
    for path in PATHS:
        try:
            response = await client.get(path, headers={"Accept": ACCEPT})
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"cannot read {path} from the cluster: {exc}") from None
        if response.status_code != 200:
            raise DiscoveryError(f"{path} answered {response.status_code}: {response.text[:200]}")
        try:
            document = response.json()
        except ValueError:
            raise DiscoveryError(f"{path} did not answer JSON") from None
        found += resources_of(document, path)
    return found


def resources_of(document: Any, path: str = "/apis") -> list[ApiResource]:
    """The resources of an `APIGroupDiscoveryList` (the core group is named "")."""
    if not isinstance(document, Mapping) or document.get("kind") != "APIGroupDiscoveryList":
        raise DiscoveryError(
            f"{path} did not answer aggregated discovery (APIGroupDiscoveryList): the cluster "
            "needs Kubernetes 1.26 or later; declare the kinds in admit.yaml instead"
        )
    found = []
    for group in document.get("items") or ():
        name = str((group.get("metadata") or {}).get("name") or "")
        for version in group.get("versions") or ():
            for resource in version.get("resources") or ():
                found.append(_resource(name, str(version.get("version", "")), resource))
    return found


def _resource(group: str, version: str, resource: Mapping[str, Any]) -> ApiResource:
    kind = _kind(resource.get("responseKind"), (group, version, ""))
    subresources = tuple(
        (str(sub.get("subresource", "")), _kind(sub.get("responseKind"), kind))
        for sub in resource.get("subresources") or ()
    )
    return ApiResource(
        group,
        version,
        kind[2],
        str(resource.get("resource", "")),
        resource.get("scope") == "Namespaced",
        tuple(sorted(subresources)),
    )


def _kind(value: Any, default: tuple[str, str, str]) -> tuple[str, str, str]:
    if not isinstance(value, Mapping) or not value.get("kind"):
        return default
    return (str(value.get("group", "")), str(value.get("version", "")), str(value["kind"]))


def custom(resources: Iterable[ApiResource], builtin: Kinds) -> list[ApiResource]:
    """The resources that are not built into Kubernetes (custom and aggregated ones)."""
    return [r for r in resources if builtin.find(r.group, r.version, r.kind) is None]


def declarations(resources: Iterable[ApiResource]) -> list[dict[str, Any]]:
    """`kinds:` entries for admit.yaml, one per kind with all its served versions."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resources:
        subresources = sorted(name for name, _ in r.subresources if name in ("scale", "status"))
        entry = merged.setdefault(
            (r.group, r.kind),
            {
                "group": r.group,
                "versions": [],
                "kind": r.kind,
                "plural": r.plural,
                "scope": "Namespaced" if r.namespaced else "Cluster",
            },
        )
        entry["versions"].append(r.version)
        if subresources:
            entry["subresources"] = subresources
    return [merged[key] for key in sorted(merged)]
