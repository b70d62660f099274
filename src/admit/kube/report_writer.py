"""Keeping the audit's policy reports in the cluster: one server-side apply (field manager
`admit`) per namespace whose report changed, a delete for a namespace left with nothing to
report, and at the start of a leader's term the removal of reports a previous term left for
namespaces that no longer have audited objects. A report whose content is what was last
written is not written again.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client
import orjson

from admit.core.reports import API_VERSIONS, KINDS, MANAGED_BY, PLURALS, REPORT_NAME, ReportApi

log = logging.getLogger("admit.audit")
_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


class ReportWriter:
    def __init__(self, client: httpx.AsyncClient, api: ReportApi) -> None:
        self.client = client
        self.api = api
        self.written: dict[str, str] = {}  # namespace -> digest of the report last written
        self.writes = 0
        self.last_error: str | None = None

    def path(self, namespace: str) -> str:
        group_version = API_VERSIONS[self.api]
        namespaced, cluster = PLURALS[self.api]
        if namespace:
            return f"/apis/{group_version}/namespaces/{namespace}/{namespaced}/{REPORT_NAME}"
        return f"/apis/{group_version}/{cluster}/{REPORT_NAME}"

    async def sync(self, documents: dict[str, dict[str, Any] | None]) -> set[str]:
        """Apply each namespace's report (None: delete it); the namespaces that failed."""
        failed: set[str] = set()
        for namespace, document in documents.items():
            try:
                if document is None:
                    await self._delete(namespace)
                else:
                    await self._apply(namespace, document)
            except httpx.HTTPError as exc:
                failed.add(namespace)
                self._failed(namespace, exc)
        if not failed:
            self.last_error = None
        return failed

    async def _apply(self, namespace: str, document: dict[str, Any]) -> None:
        body = orjson.dumps(document)
        digest = hashlib.sha256(body).hexdigest()
        if self.written.get(namespace) == digest:
            return
        response = await self.client.patch(
            self.path(namespace),
            params={"fieldManager": "admit", "force": "true"},
            content=body,
            headers={"Content-Type": "application/apply-patch+yaml"},  # JSON is YAML
        )
        response.raise_for_status()
        self.written[namespace] = digest
        self.writes += 1

    async def _delete(self, namespace: str) -> None:
        response = await self.client.delete(self.path(namespace))
        if response.status_code != 404:
            response.raise_for_status()
        self.written.pop(namespace, None)
        self.writes += 1

    async def existing(self) -> set[str]:
        """The namespaces ("" for the cluster's) that hold a report admit wrote."""
        group_version = API_VERSIONS[self.api]
        found: set[str] = set()
        for plural in PLURALS[self.api]:
            response = await self.client.get(
                f"/apis/{group_version}/{plural}", params={"labelSelector": _SELECTOR}
            )
            if response.status_code == 404:
                continue  # the CRD is not installed: `sync` will say so
            response.raise_for_status()
            for item in orjson.loads(response.content).get("items") or ():
                meta = item.get("metadata") or {}
                if meta.get("name") == REPORT_NAME:
                    found.add(meta.get("namespace") or "")
        return found

    def _failed(self, namespace: str, exc: httpx.HTTPError) -> None:
        where = f"namespace {namespace}" if namespace else "the cluster"
        text = str(exc)
        if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 404:
            kind = KINDS[self.api][0 if namespace else 1]
            text = (
                f"the cluster has no {API_VERSIONS[self.api]} {kind}: install its CRD "
                f"(or choose the other format with --report-api)"
            )
        elif isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 403:
            text = (
                f"{exc.response.status_code} forbidden: admit's account may not write reports "
                "(`admit manifests --audit-interval` renders the RBAC)"
            )
        message = f"writing the report of {where} failed: {text}"
        if message != self.last_error:
            log.error("%s", message)
        self.last_error = message
