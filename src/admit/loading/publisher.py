"""From a source's content to a published version: snapshot, load in the sandbox, publish.

Every policy source (a bundle directory, labelled ConfigMaps) hands its whole content to
`Publisher.offer` as parts (one bundle each). The content is stored as a snapshot, loaded once
in the sandbox, and published only if it loaded, so every worker then serves the same version.
A part that fails keeps its last good content in the published version (one broken ConfigMap
never takes the others down); a failure never replaces a good version. The publisher keeps
the reload history and the last failure for /readyz, written to the run directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from admit.loading.sandbox import DEFAULT_TIMEOUT, Report, run_tests, vet
from admit.loading.tarball import revision_of
from admit.loading.versions import Part, RunDirectory, Version

log = logging.getLogger("admit.reload")

Files = Sequence[tuple[str, bytes]]
Result = Literal["ok", "error"]


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    """One attempt to load changed content; `digest` is the content's (served or not)."""

    time: float
    result: Result
    digest: str
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "result": self.result,
            "digest": self.digest,
            "problems": list(self.problems),
            "seconds": round(self.seconds, 4),
        }


def files_digest(files: Files) -> str:
    """A part's digest: names and bytes, as the loader's `digest_of` computes it."""
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


class Publisher:
    """Publishes a source's versions into a run directory; one per source, in one process."""

    def __init__(
        self,
        run: RunDirectory,
        source: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_event: Callable[[ReloadEvent], None] | None = None,
        history: int = 20,
        watching: bool = True,
        require_tests: bool = False,
        name: str = "",
    ) -> None:
        self.run = run
        self.source = source
        self.name = name  # the bundle's name in decision logs (a ConfigMap part has its own)
        self.extra: dict[str, Any] = {}  # the source's own report in status() (downloads)
        self.watching = watching  # whether changes are followed after the first load
        self.require_tests = require_tests  # a version's own test cases must pass to publish
        self.last_report: Report | None = None
        self.timeout = timeout
        self.on_event = on_event
        self.history: deque[ReloadEvent] = deque(maxlen=history)
        self.last_error: ReloadEvent | None = None
        self.loads: Counter[str] = Counter()  # loads by result, for admit_bundle_reloads_total
        self.parts: dict[str, dict[str, Any]] = {}  # label -> status, for multi-part sources
        self._good: dict[str, tuple[Part, Files]] = {}  # label -> last content that loaded

    def offer(self, parts: Sequence[tuple[Part, Files]]) -> ReloadEvent | None:
        """Load and publish this content; None when it is what is already published."""
        digest, snapshot = self._snapshot(parts)
        if digest == self.run.published_digest() and not self._restored():
            return None
        report = self.last_report = vet(snapshot, timeout=self.timeout)
        if self.require_tests:
            report = self.last_report = self._tested(snapshot, report)
        if report.ok:
            self._publish(digest, report, _revision(parts))
        else:
            self.run.discard(digest)
            self._publish_good_parts(parts, report)
        for (part, files), found in zip(parts, report.parts, strict=True):
            if found.ok:
                self._good[part.label] = (part, files)
        if len(parts) > 1 or parts[0][0].label:
            self.parts = {
                part.label: (
                    {"status": "ok", "digest": files_digest(files), "rules": len(found.rules)}
                    if found.ok
                    else {"status": "error", "problems": [str(p) for p in found.problems]}
                )
                for (part, files), found in zip(parts, report.parts, strict=True)
            }
        event = ReloadEvent(
            time.time(), "ok" if report.ok else "error", digest, report.problems, report.seconds
        )
        self._record(event)
        self.run.prune()
        return event

    def reject(self, digest: str, problems: Sequence[str]) -> ReloadEvent:
        """Record content that is not even a bundle (a download that cannot be unpacked or
        verified) as a failed load; what is served stays."""
        event = ReloadEvent(time.time(), "error", digest, tuple(problems))
        self._record(event)
        return event

    def report(self) -> None:
        """Write status() for /readyz and the console now (after `extra` changed)."""
        self.run.write_report("status", self.status())

    def empty(self) -> ReloadEvent | None:
        """Publish the version with no rules (a source whose ConfigMaps were all deleted)."""
        self.parts = {}
        self._good.clear()
        return self.offer([(Part(allow_empty=True), ())])

    def _tested(self, snapshot: Path, report: Report) -> Report:
        """The report with each loaded part's failing test cases as its problems."""
        parts = []
        for found in report.parts:
            if found.ok:
                failures = run_tests(snapshot / found.part.directory, timeout=self.timeout * 3)
                found = dataclasses.replace(found, problems=failures)
            parts.append(found)
        return dataclasses.replace(report, parts=tuple(parts))

    def _snapshot(self, parts: Sequence[tuple[Part, Files]]) -> tuple[str, Path]:
        return self.run.snapshot(
            _flatten(parts), source=self.source, parts=_only(parts), bundle=self.name
        )

    def _restored(self) -> bool:
        published = self.run.published()
        return published is not None and published.restored

    def _publish(self, digest: str, report: Report, revision: str = "") -> None:
        self.run.publish(
            Version(
                digest,
                str(self.run.versions / digest),
                self.source,
                report.rules,
                report.reads,
                published=time.time(),
                revision=revision,
            )
        )

    def _publish_good_parts(self, parts: Sequence[tuple[Part, Files]], report: Report) -> None:
        """After a failed load, publish what did load plus the last good content of the rest
        (if that changes what is served); with one part, the served version simply stays."""
        if len(parts) == 1 and not parts[0][0].label:
            return
        good: list[tuple[Part, Files]] = []
        for (part, files), found in zip(parts, report.parts, strict=True):
            if found.ok:
                good.append((part, files))
            elif part.label in self._good:
                good.append(self._good[part.label])
        if not good and self.run.published() is not None:
            return  # nothing loads: keep serving what was served
        if not good:
            return  # nothing ever loaded: nothing to serve (not ready, deny)
        digest, snapshot = self._snapshot(good)
        if digest == self.run.published_digest():
            return
        composed = vet(snapshot, timeout=self.timeout)  # parts load alone; this confirms it
        if composed.ok:
            self._publish(digest, composed)
        else:
            self.run.discard(digest)

    def _record(self, event: ReloadEvent) -> None:
        self.history.append(event)
        self.loads[event.result] += 1
        if event.result == "error":
            self.last_error = event
            log.error(
                "bundle reload failed; the previous policies keep serving:\n  %s",
                "\n  ".join(event.problems),
            )
        else:
            self.last_error = None
            if len(self.history) > 1:  # the first load is announced by `admit serve` itself
                log.info("bundle reloaded: digest %s in %.3fs", event.digest[:12], event.seconds)
        self.run.write_report("status", self.status())
        if self.on_event is not None:
            self.on_event(event)

    def status(self) -> dict[str, Any]:
        """What /readyz and the console report about loading."""
        status: dict[str, Any] = {
            "source": self.source,
            "watching": self.watching,
            "last_error": self.last_error.as_json() if self.last_error else None,
            "history": [e.as_json() for e in self.history],
            "loads": dict(self.loads),
        }
        if self.parts:
            status["configmaps"] = self.parts  # the only source with several parts
        status.update(self.extra)
        return status


def _revision(parts: Sequence[tuple[Part, Files]]) -> str:
    """The `.manifest` revision of a one-part version ("" for several parts, or none)."""
    return revision_of(parts[0][1]) if len(parts) == 1 else ""


def _only(parts: Sequence[tuple[Part, Files]]) -> tuple[Part, ...]:
    return tuple(part for part, _ in parts)


def _flatten(parts: Sequence[tuple[Part, Files]]) -> list[tuple[str, bytes]]:
    """Every part's files under its directory in the snapshot."""
    flat = []
    for part, files in parts:
        for name, data in files:
            flat.append((name if part.directory == "." else f"{part.directory}/{name}", data))
    return flat
