"""The origin's rule: images come from the trusted registry and never use the `:latest` tag.

Messages are the origin's, word for word, so `kubectl` prints what the original webhook printed.
"""

import admit


@admit.validate("Pod", operations=["CREATE", "UPDATE"])
def trusted_registry(request, *, repo_prefix: str = "192.168.64.1"):
    """Every image must start with the trusted registry prefix."""
    for container in request.containers:
        if not container.image.startswith(repo_prefix):
            yield admit.Violation(
                f"{container.image} repo not start with {repo_prefix}", f"{container.path}.image"
            )


@admit.validate("Pod", operations=["CREATE", "UPDATE"])
def disallow_latest_tag(request, *, tag_suffix: str = ":latest"):
    """No image may use the mutable `:latest` tag."""
    for container in request.containers:
        if container.image.endswith(tag_suffix):
            yield admit.Violation(
                f"{container.image} tag end with {tag_suffix}", f"{container.path}.image"
            )
