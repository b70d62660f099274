"""PSS Baseline, Privileged Containers: a privileged container disables most security
mechanisms, so no container, init container or ephemeral container may be one."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def privileged_containers(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must not be privileged."""
    for c in request.containers:
        if c.securityContext.privileged is True:
            yield admit.Violation(
                f'container "{c.name}" must not set securityContext.privileged=true',
                f"{c.path}.securityContext.privileged",
            )
