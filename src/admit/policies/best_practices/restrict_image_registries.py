"""Restrict image registries: images from unknown registries may be unvetted or malicious, so
every container's image must come from an approved registry (set `registries` for yours).

An entry is a registry host (`registry.example.com`, any port), a host and port
(`registry.example.com:5000`), a host and repository path (`ghcr.io/my-org`) or a host glob
(`*.dkr.ecr.*.amazonaws.com`), compared with the image as the runtime reads it (`nginx` is
`docker.io/library/nginx`). Hosts compare whole: `registry.example.com.evil.example` is not
`registry.example.com`, and a glob never reaches past the host into the path.
"""

from collections.abc import Iterator

import admit
from admit.policies import _images


@admit.validate("Pod")
def validate_registries(
    request: admit.Request, *, registries: tuple[str, ...] = ("registry.example.com",)
) -> Iterator[admit.Violation]:
    """Images must come from an approved registry."""
    for c in request.containers:
        if not _images.from_any(_images.parse(str(c.image)), registries):
            yield admit.Violation(
                f'Unknown image registry: container "{c.name}" uses {c.image} '
                f"(allowed: {', '.join(registries) or 'none'}).",
                f"{c.path}.image",
            )
