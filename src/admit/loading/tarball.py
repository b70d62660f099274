"""Bundle tarballs, as OPA ships bundles: a `.tar.gz` of the bundle's files (Python modules,
`admit.yaml`, `data.json`/`data.yaml` files) with a `.manifest` naming its `revision`, and
optionally `.signatures.json` (`admit.loading.signing`).

`unpack` reads one from untrusted bytes without touching the disk and refuses, saying why:
links and device files, names that leave the bundle (`..`), too many files, a file or a whole
that is too large once decompressed (read as it inflates, so a gzip bomb stops at the cap).
`pack` makes one from a directory reproducibly: the same files give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from admit.core.errors import InputError

MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"
MiB = 1024 * 1024


class BundleArchiveError(InputError):
    """A bundle tarball that cannot be used; the message says why."""

    code = "bad_bundle_archive"


@dataclass(frozen=True, slots=True)
class Limits:
    """What a downloaded bundle may hold."""

    files: int = 10_000
    file_bytes: int = 16 * MiB
    total_bytes: int = 64 * MiB


def bundle_name(name: str) -> str:
    """A member's name inside the bundle, or `BundleArchiveError`: OPA's tarballs name files
    `/data.json`, so a leading `/` or `./` is dropped; `..`, backslashes and NUL are refused."""
    if "\\" in name or "\0" in name:
        raise BundleArchiveError(f"bundle file name {name!r} holds a backslash or NUL")
    parts = [p for p in PurePosixPath(name.lstrip("/")).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise BundleArchiveError(f"bundle file name {name!r} leaves the bundle")
    return "/".join(parts)


def unpack(data: bytes, limits: Limits = Limits()) -> list[tuple[str, bytes]]:
    """The files of a `.tar.gz` bundle as (name, bytes), sorted by name."""
    files: dict[str, bytes] = {}
    total = members = 0
    # The whole stream is capped too: tar headers (pax ones are any size) inflate as well.
    stream = _Capped(gzip.GzipFile(fileobj=io.BytesIO(data)), limits.total_bytes + 16 * MiB)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                members += 1
                if members > 2 * limits.files:
                    raise BundleArchiveError(f"bundle holds more than {limits.files} files")
                if member.isdir():
                    continue
                if not member.isfile():
                    what = "a link" if member.issym() or member.islnk() else "not a regular file"
                    raise BundleArchiveError(f"bundle member {member.name!r} is {what}")
                name = bundle_name(member.name)
                if name in files:
                    raise BundleArchiveError(f"bundle file {name!r} appears twice")
                if len(files) >= limits.files:
                    raise BundleArchiveError(f"bundle holds more than {limits.files} files")
                content = _read(archive, member, limits.file_bytes)
                total += len(content)
                if total > limits.total_bytes:
                    raise BundleArchiveError(
                        f"bundle is larger than {limits.total_bytes} bytes once unpacked"
                    )
                files[name] = content
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise BundleArchiveError(f"not a .tar.gz bundle: {exc}") from None
    return sorted(files.items())


class _Capped:
    """A stream that refuses to give more than `cap` bytes in all."""

    def __init__(self, stream: gzip.GzipFile, cap: int) -> None:
        self.stream, self.cap, self.seen = stream, cap, 0

    def read(self, size: int = -1) -> bytes:
        left = self.cap + 1 - self.seen
        chunk = self.stream.read(left if size < 0 else min(size, left))
        self.seen += len(chunk)
        if self.seen > self.cap:
            raise BundleArchiveError(f"bundle is larger than {self.cap} bytes once decompressed")
        return chunk


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo, cap: int) -> bytes:
    if member.size > cap:
        raise BundleArchiveError(f"bundle file {member.name!r} is larger than {cap} bytes")
    stream = archive.extractfile(member)
    if stream is None:
        raise BundleArchiveError(f"bundle member {member.name!r} cannot be read")
    content = stream.read(cap + 1)
    if len(content) > cap:
        raise BundleArchiveError(f"bundle file {member.name!r} is larger than {cap} bytes")
    return content


def read_manifest(files: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The bundle's `.manifest` (OPA's: `revision`, `roots`, `metadata`), {} when it has none;
    `BundleArchiveError` when it is not a JSON object with a string revision."""
    for name, content in files:
        if name == MANIFEST:
            try:
                manifest = json.loads(content)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BundleArchiveError(f".manifest is not JSON: {exc}") from None
            if not isinstance(manifest, dict):
                raise BundleArchiveError(".manifest must be a JSON object")
            if not isinstance(manifest.get("revision", ""), str):
                raise BundleArchiveError(".manifest's revision must be a string")
            return manifest
    return {}


def revision_of(files: Iterable[tuple[str, bytes]]) -> str:
    """The `.manifest` revision ("" without one, or when the manifest is unreadable)."""
    try:
        return str(read_manifest(files).get("revision", ""))
    except BundleArchiveError:
        return ""


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """A `.manifest` as `pack` writes it: sorted keys, so the same manifest gives the same bytes."""
    return json.dumps(dict(manifest), sort_keys=True, indent=2).encode() + b"\n"


def pack(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A reproducible `.tar.gz` of (name, bytes): members sorted, regular files only, no times,
    owners or modes of the machine that built it."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, content in sorted(files):
            info = tarfile.TarInfo(bundle_name(name))
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def directory_files(root: Path, files: Iterable[Path]) -> list[tuple[str, bytes]]:
    """(name relative to `root`, bytes) of the given files."""
    return [(path.relative_to(root).as_posix(), path.read_bytes()) for path in files]
