"""The policy store of one serving process (a worker or the console): the published version,
loaded here, swapped in as one reference.

Sources publish versions into the run directory after the sandbox has loaded them
(`loading.publisher`); a store follows `current.json` with a stat every `interval` and imports
the snapshot it names, in a thread, so requests keep being answered meanwhile. Rules that the
supervisor has quarantined for this version (they ended a worker process) are answered by
their `on_error` without running, until a new version is published.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from admit.core.engine import PolicySet
from admit.core.errors import AdmitError, BundleError
from admit.core.exceptions import PolicyException
from admit.core.kinds import Kinds
from admit.core.rules import Rule
from admit.loading.loader import load_bundle
from admit.loading.tarball import MANIFEST, revision_of
from admit.loading.versions import RunDirectory, Version, read_manifest

log = logging.getLogger("admit.store")
QUARANTINE = "quarantine"  # the supervisor's report: {"digest": ..., "rules": {key: deaths}}


class RuleQuarantined(AdmitError):
    """Raised in place of a rule that ended its worker process; its `on_error` decides."""


def load_version(snapshot: Path) -> PolicySet:
    """The policy set of a published snapshot: each part loaded, rules named by their part."""
    manifest = read_manifest(snapshot)
    rules: list[Rule] = []
    data: dict[str, Any] = {}
    kinds = Kinds()
    exceptions: list[PolicyException] = []
    bundles: dict[str, str] = {}
    for part in manifest.parts:  # later parts win a top-level data key, as ConfigMaps did
        loaded = load_bundle(snapshot / part.directory, allow_empty=part.allow_empty)
        rules += [r.configured(policy=f"{part.prefix}{r.policy}") for r in loaded.rules]
        data.update(loaded.data.raw)
        kinds += loaded.kinds
        exceptions += [e.scoped(part.prefix) for e in loaded.exceptions]
        bundles[part.label or manifest.name] = _revision(snapshot / part.directory)
    return PolicySet(
        rules,
        data=data,
        digest=manifest.digest,
        source=manifest.source,
        kinds=kinds,
        exceptions=exceptions,
        bundles=bundles,
    )


def _revision(directory: Path) -> str:
    """A part's `.manifest` revision ("" without one)."""
    try:
        content = (directory / MANIFEST).read_bytes()
    except OSError:
        return ""
    return revision_of([(MANIFEST, content)])


def quarantined(policy_set: PolicySet, deaths: dict[str, int]) -> PolicySet:
    """The set with each rule in `deaths` replaced by one that raises `RuleQuarantined`."""
    if not any(rule.key in deaths for rule in policy_set.rules):
        return policy_set
    rules = [
        _stand_in(rule, deaths[rule.key]) if rule.key in deaths else rule
        for rule in policy_set.rules
    ]
    return policy_set.with_rules(rules)


def _stand_in(rule: Rule, deaths: int) -> Rule:
    message = (
        f"not run: this rule ended its worker process {deaths} times with this bundle version; "
        "it is answered by its on_error until the bundle changes"
    )

    @functools.wraps(rule.func)
    def stopped(subject: Any, *data: Any, **arguments: Any) -> Any:
        raise RuleQuarantined(message)

    return rule.configured(func=stopped)


class PolicyStore:
    """What one process serves; implements the server's `PolicySource`."""

    def __init__(
        self,
        run: RunDirectory,
        *,
        transform: Callable[[PolicySet], PolicySet] | None = None,
        interval: float = 0.1,
    ) -> None:
        self.run = run
        self.interval = interval
        self._transform = transform
        self._current: PolicySet | None = None
        self._loaded: PolicySet | None = None  # as published, before quarantine and transform
        self.version: Version | None = None
        self.failed: str | None = None  # why the published version did not load here
        self._stamps: tuple[Any, ...] = ()
        self._subscribers: list[Callable[[PolicySet], None]] = []

    def current(self) -> PolicySet | None:
        return self._current

    def subscribe(self, callback: Callable[[PolicySet], None]) -> None:
        """Call `callback` with each set swapped in (in the thread that swapped it)."""
        self._subscribers.append(callback)

    def refresh(self, *, load: bool = True) -> bool:
        """Serve the published version if it changed, and its quarantine; whether what is
        served changed. With `load=False`, only what needs no import (a new quarantine) is
        applied, so it can run on the event loop."""
        stamps = (self.run.stamp(), self.run.stamp_of(QUARANTINE))
        if stamps == self._stamps:
            return False
        version = self.run.published()
        if version is None:
            return False
        loaded = self._loaded
        if loaded is None or version.digest != loaded.digest:
            if not load:
                return False
            self._stamps = stamps
            try:
                loaded = load_version(Path(version.path))
            except (BundleError, OSError) as exc:
                self.failed = f"version {version.digest[:12]} did not load here: {exc}"
                log.error("%s; still serving the previous one", self.failed)
                return False
            self.failed = None
        self._stamps = stamps
        self.version = version
        self._loaded = loaded
        served = quarantined(loaded, self._quarantine(loaded.digest))
        if self._transform is not None:
            served = self._transform(served)
        self._current = served
        for callback in self._subscribers:
            callback(served)
        return True

    def _quarantine(self, digest: str) -> dict[str, int]:
        report = self.run.read_report(QUARANTINE) or {}
        if report.get("digest") != digest:
            return {}
        return dict(report.get("rules") or {})

    async def follow(self) -> None:
        """Keep `current()` on the published version until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            stamps = (self.run.stamp(), self.run.stamp_of(QUARANTINE))
            if stamps != self._stamps:
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception:
                    log.exception("following the published policy version failed")

    def status(self) -> dict[str, Any]:
        """The served version, the source's loading report and this process's own trouble."""
        status: dict[str, Any] = dict(self.run.read_report("status") or {})
        status["served"] = self.version.as_json() if self.version is not None else None
        if self.failed:
            status["failed_here"] = self.failed
        return status
