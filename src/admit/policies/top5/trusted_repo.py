"""Trusted repository (the first of the classic five): every image must come from a trusted
repository. The default is the registry of the write-up admit started from; set `repos` to
yours. A repo matches itself, its ports (`192.168.64.1:5000/...`) and everything below it, but
not a longer name (`192.168.64.10`)."""

from collections.abc import Iterator

import admit


def _trusted(image: str, repos: tuple[str, ...]) -> bool:
    for repo in repos:
        repo = repo.rstrip("/")
        if image == repo or image.startswith((repo + "/", repo + ":")):
            return True
    return False


@admit.validate("Pod")
def trusted_repo(
    request: admit.Request, *, repos: tuple[str, ...] = ("192.168.64.1",)
) -> Iterator[admit.Violation]:
    """Images must come from a trusted repository."""
    for c in request.containers:
        if not _trusted(str(c.image), repos):
            yield admit.Violation(
                f"{c.image} is not from a trusted repository ({', '.join(repos)})",
                f"{c.path}.image",
            )
