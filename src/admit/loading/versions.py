"""Policy versions on disk: the one place where a source publishes what every process serves.

A server owns a run directory:

    versions/<digest>/   immutable snapshots of a bundle (or of several ConfigMaps, one part
                         each), with `.admit-version.json` naming the parts
    current.json         the published version: what every worker and the console serve
    status.json          the source's report: reload history, the last failed load, parts

The source (one process) writes snapshots and publishes them after they loaded in the sandbox;
workers read `current.json` and load the snapshot it names. Every file is written to a
temporary name and renamed, so a reader never sees half a file. Nothing here imports a bundle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

MANIFEST = ".admit-version.json"
_KEEP = 4  # snapshots kept besides the published one (a worker may still be loading one)


@dataclass(frozen=True, slots=True)
class Part:
    """One bundle of a version: its directory inside the snapshot and how its rules are named."""

    directory: str = "."
    prefix: str = ""  # prepended to each rule's policy name (a ConfigMap's name and a dot)
    allow_empty: bool = False  # one ConfigMap of several may hold only helpers or data
    label: str = ""  # how problems name the part (`default/policy-a`)


@dataclass(frozen=True, slots=True)
class Version:
    """A published version, as `current.json` holds it."""

    digest: str
    path: str
    source: str
    rules: tuple[str, ...] = ()
    reads: tuple[list[Any], ...] = ()  # the kinds rules read, as `KindPattern.record()`s
    published: float = 0.0
    restored: bool = False  # served from --state-dir at start, not (yet) from the source
    revision: str = ""  # the bundle's `.manifest` revision (one-part versions; "" without one)

    def as_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "source": self.source,
            "rules": len(self.rules),
            "published": self.published,
            "restored": self.restored,
            "revision": self.revision,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """What `.admit-version.json` says about a snapshot."""

    digest: str
    source: str
    parts: tuple[Part, ...] = field(default_factory=lambda: (Part(),))
    name: str = ""  # the bundle's name (decision logs' `bundles`) when a part has no label


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def read_manifest(snapshot: Path) -> Manifest:
    raw = orjson.loads((snapshot / MANIFEST).read_bytes())
    parts = tuple(Part(**p) for p in raw.get("parts") or [{}])
    return Manifest(raw["digest"], raw.get("source", ""), parts, raw.get("name", ""))


class RunDirectory:
    """The run directory's files; safe to use from several processes at once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()  # snapshots are named by absolute paths in current.json
        self.versions = self.root / "versions"
        self.versions.mkdir(parents=True, exist_ok=True)

    # --- snapshots -----------------------------------------------------------------------------
    def snapshot(
        self,
        files: Iterable[tuple[str, bytes]],
        *,
        source: str,
        parts: Sequence[Part] = (Part(),),
        bundle: str = "",
    ) -> tuple[str, Path]:
        """Store the given (relative name, bytes) files as a snapshot; (digest, its directory).

        The digest covers names and bytes in order (the loader's `digest_of` gives the same for
        a one-part bundle), and the part layout; an identical snapshot is reused."""
        digest = hashlib.sha256()
        staged = self.versions / f".staging-{os.getpid()}-{time.monotonic_ns()}"
        staged.mkdir()
        try:
            for name, data in files:
                digest.update(name.encode() + b"\0" + data + b"\0")
                target = staged / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if tuple(parts) != (Part(),):
                digest.update(orjson.dumps([asdict(p) for p in parts]))
            hexdigest = digest.hexdigest()
            manifest = {"digest": hexdigest, "source": source, "parts": [asdict(p) for p in parts],
                        "name": bundle}  # fmt: skip
            (staged / MANIFEST).write_bytes(orjson.dumps(manifest))
            final = self.versions / hexdigest
            if final.is_dir():
                return hexdigest, final
            os.replace(staged, final)
            return hexdigest, final
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def discard(self, digest: str) -> None:
        """Remove a snapshot that will never be published (it failed to load)."""
        if self.published_digest() != digest:
            shutil.rmtree(self.versions / digest, ignore_errors=True)

    def prune(self) -> None:
        """Keep the published snapshot and the few newest others."""
        current = self.published_digest()
        others = sorted(
            (p for p in self.versions.iterdir() if p.is_dir() and p.name != current),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in others[_KEEP:]:
            shutil.rmtree(stale, ignore_errors=True)

    # --- the published version -----------------------------------------------------------------
    def publish(self, version: Version) -> None:
        write_atomically(self.root / "current.json", orjson.dumps(asdict(version)))

    def published(self) -> Version | None:
        try:
            raw = orjson.loads((self.root / "current.json").read_bytes())
        except FileNotFoundError:
            return None
        raw["rules"] = tuple(raw.get("rules") or ())
        raw["reads"] = tuple(raw.get("reads") or ())
        return Version(**raw)

    def published_digest(self) -> str:
        version = self.published()
        return version.digest if version is not None else ""

    def stamp(self) -> tuple[int, int] | None:
        """A cheap token that changes whenever a version is published (a stat, no read)."""
        return self.stamp_of("current")

    def stamp_of(self, name: str) -> tuple[int, int] | None:
        """A token that changes whenever the file `name`.json is rewritten."""
        try:
            st = os.stat(self.root / f"{name}.json")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    # --- reports -------------------------------------------------------------------------------
    def write_report(self, name: str, report: dict[str, Any]) -> None:
        write_atomically(self.root / f"{name}.json", orjson.dumps(report))

    def read_report(self, name: str) -> dict[str, Any] | None:
        try:
            value = orjson.loads((self.root / f"{name}.json").read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None
