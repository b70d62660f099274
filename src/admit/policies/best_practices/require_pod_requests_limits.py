"""Require pod requests and limits: without requests the scheduler packs pods blindly, and
without a memory limit one pod can starve its node. CPU limits are not required by default
(they throttle more than they protect), as in the Kyverno policy."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def validate_resources(
    request: admit.Request,
    *,
    requests: tuple[str, ...] = ("cpu", "memory"),
    limits: tuple[str, ...] = ("memory",),
) -> Iterator[admit.Violation]:
    """CPU and memory resource requests and memory limits are required."""
    for c in request.containers:
        if c.section == "ephemeralContainers":  # the API forbids resources on them
            continue
        resources = c.resources
        missing = [f"requests.{r}" for r in requests if not resources.requests.get(r)]
        missing += [f"limits.{r}" for r in limits if not resources.limits.get(r)]
        if missing:
            yield admit.Violation(
                f'container "{c.name}" must set resources {", ".join(missing)}',
                f"{c.path}.resources",
            )
