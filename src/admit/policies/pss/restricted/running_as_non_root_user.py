"""PSS Restricted, Running as Non-root user: an explicit `runAsUser: 0` would run as root
whatever the image says, so it is refused on the pod and on every container."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def running_as_non_root_user(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods and containers must not set runAsUser=0."""
    if request.object.spec.securityContext.runAsUser == 0:
        yield admit.Violation(
            "the pod must not set securityContext.runAsUser=0", "spec.securityContext.runAsUser"
        )
    for c in request.containers:
        if c.securityContext.runAsUser == 0:
            yield admit.Violation(
                f'container "{c.name}" must not set securityContext.runAsUser=0',
                f"{c.path}.securityContext.runAsUser",
            )
