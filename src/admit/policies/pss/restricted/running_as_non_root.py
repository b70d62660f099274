"""PSS Restricted, Running as Non-root: the kubelet must refuse to start a container as root.
`runAsNonRoot: true` on the pod covers every container that does not say otherwise; without
it, each container must set it itself."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def running_as_non_root(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must set runAsNonRoot=true, on the pod or on every container."""
    pod_level = request.object.spec.securityContext.runAsNonRoot
    if pod_level is False:
        yield admit.Violation(
            "the pod must not set securityContext.runAsNonRoot=false",
            "spec.securityContext.runAsNonRoot",
        )
    for c in request.containers:
        value = c.securityContext.runAsNonRoot
        if value is False:
            yield admit.Violation(
                f'container "{c.name}" must not set securityContext.runAsNonRoot=false',
                f"{c.path}.securityContext.runAsNonRoot",
            )
        elif value is not True and pod_level is not True:
            yield admit.Violation(
                f'container "{c.name}" must set securityContext.runAsNonRoot=true '
                "(or the pod must)",
                f"{c.path}.securityContext.runAsNonRoot",
            )
