"""No privileged mode (the third of the classic five): a privileged container is root on the
node. Namespaces of the cluster's own infrastructure can be exempted (`exempt_namespaces`)."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def no_privileged(
    request: admit.Request, *, exempt_namespaces: tuple[str, ...] = ("kube-system",)
) -> Iterator[admit.Violation]:
    """Containers must not run in privileged mode."""
    if request.namespace in exempt_namespaces:
        return
    for c in request.containers:
        if c.securityContext.privileged is True:
            yield admit.Violation(
                f'container "{c.name}" must not run in privileged mode',
                f"{c.path}.securityContext.privileged",
            )
