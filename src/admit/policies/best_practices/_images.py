"""Reading container image references the way the container runtime does, shared by this
bundle's image rules: `nginx` is `docker.io/library/nginx`, and a `:5000` after a registry host
is a port, not a tag."""

from typing import NamedTuple

DEFAULT_REGISTRY = "docker.io"


class Image(NamedTuple):
    """A parsed image reference; `tag` and `digest` are "" when absent."""

    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        """`registry/repository`, the part registry allow-lists compare."""
        return f"{self.registry}/{self.repository}"


def parse(reference: str) -> Image:
    """Split `reference` into registry, repository, tag and digest."""
    name, _, digest = reference.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return Image(first, rest, tag, digest)
    repository = name if sep else f"library/{name}"
    return Image(DEFAULT_REGISTRY, repository, tag, digest)
