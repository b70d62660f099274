"""PSS Baseline, Seccomp: the seccomp profile may be left unset or be the runtime's default or a
node-local one, never explicitly `Unconfined`."""

from collections.abc import Iterator

import admit

ALLOWED = (None, "RuntimeDefault", "Localhost")


@admit.validate("Pod")
def seccomp(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods and containers must not disable seccomp."""
    kind = request.object.spec.securityContext.seccompProfile.type
    if kind not in ALLOWED:
        yield admit.Violation(
            f"the pod must not set seccompProfile.type={kind}",
            "spec.securityContext.seccompProfile.type",
        )
    for c in request.containers:
        kind = c.securityContext.seccompProfile.type
        if kind not in ALLOWED:
            yield admit.Violation(
                f'container "{c.name}" must not set seccompProfile.type={kind}',
                f"{c.path}.securityContext.seccompProfile.type",
            )
