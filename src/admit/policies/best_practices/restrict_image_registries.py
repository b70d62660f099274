"""Restrict image registries: images from unknown registries may be unvetted or malicious, so
every container's image must come from an approved registry (set `registries` for yours).

An entry is a registry host (`registry.example.com`), a host and path prefix
(`ghcr.io/my-org`) or a glob (`*.dkr.ecr.*.amazonaws.com`), compared with the image's
normalised name (`nginx` is `docker.io/library/nginx`).
"""

from collections.abc import Iterator
from fnmatch import fnmatchcase

import admit

from . import _images


def _allowed(name: str, registries: tuple[str, ...]) -> bool:
    return any(
        fnmatchcase(name, entry.rstrip("/")) or fnmatchcase(name, entry.rstrip("/") + "/*")
        for entry in registries
    )


@admit.validate("Pod")
def validate_registries(
    request: admit.Request, *, registries: tuple[str, ...] = ("registry.example.com",)
) -> Iterator[admit.Violation]:
    """Images must come from an approved registry."""
    for c in request.containers:
        image = _images.parse(str(c.image))
        if not _allowed(image.name, registries):
            yield admit.Violation(
                f'Unknown image registry: container "{c.name}" uses {c.image} '
                f"(allowed: {', '.join(registries) or 'none'}).",
                f"{c.path}.image",
            )
