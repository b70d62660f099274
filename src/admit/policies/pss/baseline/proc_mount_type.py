"""PSS Baseline, /proc Mount Type: the default /proc mask hides kernel interfaces from
containers; `Unmasked` removes it."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def proc_mount_type(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must keep the default /proc mount."""
    for c in request.containers:
        mount = c.securityContext.procMount
        if mount not in (None, "Default"):
            yield admit.Violation(
                f'container "{c.name}" must not set securityContext.procMount={mount}',
                f"{c.path}.securityContext.procMount",
            )
