"""Reading container image references the way the container runtime does, for the library's
image rules (imported as `admit.policies._images`, so a bundle copied elsewhere keeps working).

`nginx` is `docker.io/library/nginx:latest`; the first part of a name is a registry host only
when a `/` follows it and it holds a `.` or a `:` or is `localhost` (so `192.168.64.1:1.0` is
the Docker Hub image `192.168.64.1` tagged `1.0`); a `:5000` after a host is a port, not a tag.
Registry allow-lists compare the host as a whole (`192.168.64.10` and
`192.168.64.1.evil.example` are not `192.168.64.1`), never as a text prefix.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import NamedTuple

DEFAULT_REGISTRY = "docker.io"
_LEGACY_REGISTRY = "index.docker.io"


class Image(NamedTuple):
    """A parsed image reference; `port`, `tag` and `digest` are "" when absent."""

    host: str
    port: str
    repository: str
    tag: str
    digest: str

    @property
    def registry(self) -> str:
        """`host[:port]`, as written in the reference."""
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def name(self) -> str:
        """`registry/repository`."""
        return f"{self.registry}/{self.repository}"

    @property
    def effective_tag(self) -> str:
        """The tag the runtime pulls: `latest` when the reference names neither a tag nor a
        digest (as Kyverno reads it: `nginx:latest@sha256:...` is tagged latest, while a
        digest alone has no tag)."""
        return self.tag or ("" if self.digest else "latest")


def parse(reference: str) -> Image:
    """Split `reference` into registry host and port, repository, tag and digest."""
    name, _, digest = reference.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        host, _, port = first.partition(":")
        if host.lower() == _LEGACY_REGISTRY:
            host = DEFAULT_REGISTRY
        if host.lower() == DEFAULT_REGISTRY and "/" not in rest:
            rest = f"library/{rest}"
        return Image(host, port, rest, tag, digest)
    repository = name if sep else f"library/{name}"
    return Image(DEFAULT_REGISTRY, "", repository, tag, digest)


def from_registry(image: Image, entry: str) -> bool:
    """Whether `image` comes from the allow-list `entry`: a registry host, optionally with a
    port and a repository path below which images must be (`registry.example.com`,
    `192.168.64.1:5000`, `ghcr.io/my-org`); the host may be a glob (`*.dkr.ecr.*.amazonaws.com`)
    matched against the host alone, so it can never reach into the path."""
    where, _, path = entry.strip().rstrip("/").partition("/")
    host, _, port = where.partition(":")
    host = host.lower()
    if host == _LEGACY_REGISTRY:
        host = DEFAULT_REGISTRY
    if not fnmatchcase(image.host.lower(), host) or (port and image.port != port):
        return False
    repository = image.repository
    return not path or fnmatchcase(repository, path) or fnmatchcase(repository, f"{path}/*")


def from_any(image: Image, entries: tuple[str, ...]) -> bool:
    return any(from_registry(image, entry) for entry in entries)
