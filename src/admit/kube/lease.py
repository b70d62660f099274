"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it, so
that of several replicas exactly one does the work that must happen once per cluster (writing
audit reports); the others stand by and take over when the leader's lease lapses.

Each `step()` (every `retry` seconds) reads the Lease and then: creates it if there is none;
renews it if this replica holds it; takes it over if its holder has not renewed it for
`duration` seconds, as measured on this replica's own clock from when it last saw the record
change (never by comparing clocks across machines). Every write is an update at the
resourceVersion read, so two candidates cannot both win: kube-apiserver answers the second with
409 Conflict. A leader that cannot renew for `renew_deadline` seconds stops leading before its
lease can lapse for the others. `release()` gives the lease up on shutdown.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client
import orjson

log = logging.getLogger("admit.lease")
API = "/apis/coordination.k8s.io/v1"


def _now_text() -> str:
    """A MicroTime, as Leases hold their times."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Lease:
    """One candidate for the Lease `namespace/name`."""

    client: httpx.AsyncClient
    namespace: str
    name: str
    identity: str
    duration: float = 15.0  # client-go's defaults: lease 15 s, renew deadline 10 s, retry 2 s
    renew_deadline: float = 10.0
    retry: float = 2.0
    leading: bool = False
    holder: str = ""  # who holds it, as last read
    transitions: int = 0
    last_error: str | None = None
    _observed: tuple[Any, ...] | None = None  # (holder, renewTime) as last seen changing
    _observed_at: float = 0.0
    _renewed_at: float = field(default=0.0)

    @property
    def path(self) -> str:
        return f"{API}/namespaces/{self.namespace}/leases/{self.name}"

    async def step(self) -> bool:
        """Try to acquire or renew once; whether this replica leads now."""
        try:
            won = await self._try()
            self.last_error = None
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            won = False
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("lease %s/%s: %s", self.namespace, self.name, self.last_error)
        now = time.monotonic()
        if won:
            self._renewed_at = now
        was = self.leading
        # a leader that failed to renew keeps leading only within its renew deadline
        self.leading = won or (was and now - self._renewed_at < self.renew_deadline)
        if self.leading != was:
            log.info(
                "lease %s/%s: %s", self.namespace, self.name,
                f"{self.identity} now leads" if self.leading else f"{self.identity} stands by",
            )  # fmt: skip
        return self.leading

    async def _try(self) -> bool:
        response = await self.client.get(self.path)
        if response.status_code == 404:
            return await self._create()
        response.raise_for_status()
        lease = orjson.loads(response.content)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        now = time.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self.holder = holder
        self.transitions = int(spec.get("leaseTransitions") or 0)
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        if holder and holder != self.identity and now - self._observed_at < duration:
            return False  # held, and renewed recently as far as this replica has seen
        if holder != self.identity:
            spec["leaseTransitions"] = self.transitions + 1
            spec["acquireTime"] = _now_text()
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.duration),
            renewTime=_now_text(),
        )
        lease["spec"] = spec
        return await self._write("PUT", self.path, lease)

    async def _create(self) -> bool:
        now = _now_text()
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        collection = f"{API}/namespaces/{self.namespace}/leases"
        return await self._write("POST", collection, lease)

    async def _write(self, method: str, path: str, lease: dict[str, Any]) -> bool:
        response = await self.client.request(
            method, path, content=orjson.dumps(lease), headers={"Content-Type": "application/json"}
        )
        if response.status_code == 409:  # another candidate wrote first: it leads
            return False
        response.raise_for_status()
        written = orjson.loads(response.content)
        spec = written.get("spec") or {}
        self.holder = spec.get("holderIdentity") or ""
        self._observed = (self.holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        self._observed_at = time.monotonic()
        return bool(self.holder == self.identity)

    async def release(self) -> None:
        """Give the lease up (on shutdown), so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        try:
            response = await self.client.get(self.path)
            response.raise_for_status()
            lease = orjson.loads(response.content)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_now_text())
            await self._write("PUT", self.path, lease)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("lease %s/%s: could not release it: %s", self.namespace, self.name, exc)

    def status(self) -> dict[str, Any]:
        return {
            "lease": f"{self.namespace}/{self.name}",
            "identity": self.identity,
            "leading": self.leading,
            "holder": self.holder,
            "transitions": self.transitions,
            "last_error": self.last_error,
        }
