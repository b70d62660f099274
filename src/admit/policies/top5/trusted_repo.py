"""Trusted repository (the first of the classic five): every image must come from a trusted
repository. The default is the registry of the write-up admit started from; set `repos` to
yours. A repo is a registry host (any port: `192.168.64.1` admits `192.168.64.1:5000/...`),
optionally with a port and a path below which images must be (`ghcr.io/acme`). Hosts compare
whole, as the runtime reads the reference: `192.168.64.10`, `192.168.64.1.evil.example` and
`192.168.64.1:1.0` (Docker Hub's `library/192.168.64.1`) are not `192.168.64.1`."""

from collections.abc import Iterator

import admit
from admit.policies import _images


@admit.validate("Pod")
def trusted_repo(
    request: admit.Request, *, repos: tuple[str, ...] = ("192.168.64.1",)
) -> Iterator[admit.Violation]:
    """Images must come from a trusted repository."""
    for c in request.containers:
        if not _images.from_any(_images.parse(str(c.image)), repos):
            yield admit.Violation(
                f"{c.image} is not from a trusted repository ({', '.join(repos)})",
                f"{c.path}.image",
            )
