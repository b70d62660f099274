"""Disallow latest tag: an image without a tag, or tagged `latest`, is mutable, so what runs
changes under the same manifest and rollbacks cannot restore it. Read as Kyverno reads images:
a reference without tag or digest is `:latest`, and `nginx:latest@sha256:...` is still tagged
latest; a digest alone (`nginx@sha256:...`) pins the
image and passes both rules."""

from collections.abc import Iterator

import admit
from admit.policies import _images


@admit.validate("Pod")
def require_image_tag(request: admit.Request) -> Iterator[admit.Violation]:
    """An image tag is required."""
    for c in request.containers:
        image = _images.parse(str(c.image))
        if not image.tag and not image.digest:
            yield admit.Violation(
                f'An image tag is required: container "{c.name}" uses {c.image}.',
                f"{c.path}.image",
            )


@admit.validate("Pod")
def validate_image_tag(
    request: admit.Request, *, mutable_tags: tuple[str, ...] = ("latest",)
) -> Iterator[admit.Violation]:
    """Using a mutable image tag e.g. 'latest' is not allowed."""
    for c in request.containers:
        if _images.parse(str(c.image)).effective_tag in mutable_tags:
            yield admit.Violation(
                f"Using a mutable image tag e.g. 'latest' is not allowed: "
                f'container "{c.name}" uses {c.image}.',
                f"{c.path}.image",
            )
