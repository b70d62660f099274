"""Disallow latest tag: an image without a tag, or tagged `latest`, is mutable, so what runs
changes under the same manifest and rollbacks cannot restore it. A digest pins an image better
than any tag and passes both rules."""

from collections.abc import Iterator

import admit

from . import _images


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
        image = _images.parse(str(c.image))
        if image.tag in mutable_tags and not image.digest:
            yield admit.Violation(
                f"Using a mutable image tag e.g. 'latest' is not allowed: "
                f'container "{c.name}" uses {c.image}.',
                f"{c.path}.image",
            )
