"""Listing a cluster's objects of a resource in pages (`limit` and `continue`, as client-go's
pager does), so a kind with 100,000 objects is never one response held whole in memory.

List items come without `kind` and `apiVersion`; each page's items get them back, and lose
`managedFields` (bookkeeping no rule reads, often half an object's size). An expired continue
token (410, the list took longer than etcd keeps its snapshot) restarts the list once from the
current state, as client-go does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client (a maintained httpx fork)
import orjson

from admit.core.kinds import ApiResource
from admit.kube.api import collection_path

PAGE = 500  # client-go's default page size


class ListFailed(Exception):
    """The API server refused a list (its status and message say why)."""


class NotServed(ListFailed):
    """The cluster does not serve the resource (404: a custom resource not installed)."""


def _slim(item: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    item.setdefault("kind", kind)
    item.setdefault("apiVersion", api_version)
    meta = item.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return item


async def list_pages(
    client: httpx.AsyncClient,
    resource: ApiResource,
    *,
    namespace: str | None = None,
    limit: int = PAGE,
) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    """Each page of `resource` (in `namespace`, or all) with the list's resourceVersion."""
    path = collection_path(resource.group, resource.version, resource.plural, namespace)
    token = ""
    restarted = False
    while True:
        params = {"limit": str(limit)}
        if token:
            params["continue"] = token
        response = await client.get(path, params=params)
        if response.status_code == 410 and token and not restarted:
            token, restarted = "", True  # the snapshot expired: list the current state
            continue
        if response.status_code == 404:
            raise NotServed(f"{path} is not served by the cluster")
        if response.status_code >= 400:
            raise ListFailed(_failure(path, response))
        document = orjson.loads(response.content)
        kind = str(document.get("kind", "")).removesuffix("List") or resource.kind
        api_version = str(document.get("apiVersion") or resource.api_version)
        metadata = document.get("metadata") or {}
        items = [_slim(item, kind, api_version) for item in document.get("items") or ()]
        yield items, str(metadata.get("resourceVersion", ""))
        token = str(metadata.get("continue") or "")
        if not token:
            return


def _failure(path: str, response: httpx.Response) -> str:
    try:
        message = orjson.loads(response.content).get("message") or ""
    except (orjson.JSONDecodeError, AttributeError):
        message = response.text[:200]
    hint = ""
    if response.status_code == 403:
        hint = " (grant list on it to admit's account: `admit manifests --audit` renders the RBAC)"
    return f"listing {path} failed: HTTP {response.status_code} {message}{hint}"


__all__ = ["PAGE", "ListFailed", "NotServed", "list_pages"]
