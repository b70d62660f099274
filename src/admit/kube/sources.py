"""Policies from ConfigMaps (kube-mgmt parity): every ConfigMap matching a label selector in
the given namespaces is a bundle (its keys are files; `dir__file.py` is `dir/file.py`). Each is
loaded on its own; the served set is the union of each ConfigMap's last good load, so one
broken ConfigMap never takes down the others. The outcome is written back to the ConfigMap as
the annotation `admit.dev/status`: ok with the digest and rule count, or the problems.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client
import orjson

from admit.core.engine import PolicySet
from admit.core.errors import BundleError
from admit.kube.api import collection_path
from admit.kube.reflector import Reflector
from admit.loading.loader import load_bundle
from admit.loading.reload import ReloadEvent

log = logging.getLogger("admit.sources")
STATUS_ANNOTATION = "admit.dev/status"
Key = tuple[str, str]


def _data_digest(cm: Any) -> str:
    return hashlib.sha256(
        orjson.dumps(cm.get("data") or {}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _write(cm: Any, directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for key, text in (cm.get("data") or {}).items():
        relative = Path(*key.split("__"))
        if relative.is_absolute() or ".." in relative.parts:
            continue
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


class ConfigMapSource:
    """A policy source following labelled ConfigMaps; implements the server's WatchedSource."""

    def __init__(
        self,
        connect: Callable[[], httpx.AsyncClient],
        namespaces: list[str],
        selector: str,
        *,
        workdir: Path | None = None,
    ) -> None:
        self._connect = connect
        self.namespaces = namespaces
        self.selector = selector
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="admit-configmaps-"))
        self.stores: dict[str, dict[Key, Any]] = {ns: {} for ns in namespaces}
        self._loaded: dict[Key, tuple[str, PolicySet | None, dict[str, Any]]] = {}
        self._current: PolicySet | None = None
        self.on_event: Callable[[Any], None] | None = None
        self.history: deque[ReloadEvent] = deque(maxlen=20)
        self.last_error: ReloadEvent | None = None
        self.reflectors: list[Reflector] = []

    def current(self) -> PolicySet | None:
        return self._current

    def check(self) -> None:
        """Nothing to do outside the workers' event loops: they watch the cluster."""

    def status(self) -> dict[str, Any]:
        return {
            "source": f"configmaps {self.selector} in {', '.join(self.namespaces)}",
            "configmaps": {f"{ns}/{name}": s for (ns, name), (_, _, s) in self._loaded.items()},
            "last_error": self.last_error.as_json() if self.last_error else None,
            "history": [e.as_json() for e in self.history],
        }

    def rebuild(self) -> list[tuple[Key, dict[str, Any]]]:
        """Load changed ConfigMaps; returns the statuses to write back."""
        seen: dict[Key, Any] = {
            key: cm for store in self.stores.values() for key, cm in store.items()
        }
        changed: list[tuple[Key, dict[str, Any]]] = []
        for key in list(self._loaded):
            if key not in seen:
                del self._loaded[key]
                changed.append((key, {}))
        for key, cm in sorted(seen.items()):
            digest = _data_digest(cm)
            previous = self._loaded.get(key)
            if previous is not None and previous[0] == digest:
                continue
            directory = self.workdir / key[0] / key[1]
            _write(cm, directory)
            started = time.perf_counter()
            try:
                result = load_bundle(directory, allow_empty=True)
                loaded = PolicySet(
                    [r.configured(policy=f"{key[1]}.{r.policy}") for r in result.rules],
                    data=result.data.raw,
                    digest=result.digest,
                )
                status = {"status": "ok", "digest": result.digest, "rules": len(result.rules)}
                self._loaded[key] = (digest, loaded, status)
                event = ReloadEvent(
                    time.time(), "ok", result.digest, (), time.perf_counter() - started
                )
            except BundleError as exc:
                problems = tuple(f"{key[0]}/{key[1]}: {p}" for p in exc.problems)
                status = {"status": "error", "problems": [str(p) for p in exc.problems]}
                good = previous[1] if previous is not None else None
                self._loaded[key] = (digest, good, status)
                event = ReloadEvent(
                    time.time(), "error", digest, problems, time.perf_counter() - started
                )
            self._record(event)
            changed.append((key, status))
        if changed:
            self._combine()
        return changed

    def _record(self, event: ReloadEvent) -> None:
        self.history.append(event)
        if event.result == "error":
            self.last_error = event
        elif all(s.get("status") == "ok" for _, _, s in self._loaded.values()):
            self.last_error = None
        if self.on_event is not None:
            self.on_event(event)

    def _combine(self) -> None:
        sets = [ps for _, ps, _ in self._loaded.values() if ps is not None]
        rules = [r for ps in sets for r in ps.rules]
        data: dict[str, Any] = {}
        for ps in sets:  # later ConfigMaps (by namespace/name) win a top-level key
            data.update(ps.data.raw)
        digest = hashlib.sha256(
            "".join(f"{k}{d}" for k, (d, _, _) in sorted(self._loaded.items())).encode()
        ).hexdigest()
        self._current = PolicySet(rules, data=data, digest=digest, source=self.status()["source"])

    async def _annotate(self, client: httpx.AsyncClient, key: Key, status: dict[str, Any]) -> None:
        if not status:
            return
        store = self.stores.get(key[0], {})
        value = orjson.dumps(status).decode()
        current = ((store.get(key) or {}).get("metadata") or {}).get("annotations") or {}
        if current.get(STATUS_ANNOTATION) == value:
            return
        patch = {"metadata": {"annotations": {STATUS_ANNOTATION: value}}}
        path = f"{collection_path('', 'v1', 'configmaps', key[0])}/{key[1]}"
        try:
            response = await client.patch(
                path,
                content=orjson.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("cannot annotate ConfigMap %s/%s: %s", key[0], key[1], exc)

    async def watch(self) -> None:
        """Follow the ConfigMaps until cancelled."""
        client = self._connect()
        tasks = []
        for ns in self.namespaces:
            path = collection_path("", "v1", "configmaps", ns)
            reflector = Reflector(client, path, self.stores[ns], label_selector=self.selector)
            self.reflectors.append(reflector)
            tasks.append(asyncio.ensure_future(reflector.run()))
        signature: tuple[Any, ...] | None = None
        try:
            while True:
                if all(r.status.synced for r in self.reflectors):
                    now = tuple(
                        sorted(
                            (k, (cm.get("metadata") or {}).get("resourceVersion"))
                            for store in self.stores.values()
                            for k, cm in store.items()
                        )
                    )
                    if now != signature:
                        signature = now
                        for key, status in await asyncio.to_thread(self.rebuild):
                            await self._annotate(client, key, status)
                        if self._current is None:
                            self._combine()
                await asyncio.sleep(0.2)
        finally:
            for task in tasks:
                task.cancel()
            await client.aclose()
