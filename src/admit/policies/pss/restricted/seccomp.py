"""PSS Restricted, Seccomp: a seccomp profile must be in force, `RuntimeDefault` or
`Localhost`, set on the pod or on every container. Windows pods are exempt, as in the standard.
"""

from collections.abc import Iterator

import admit

ALLOWED = ("RuntimeDefault", "Localhost")


@admit.validate("Pod")
def seccomp(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must set seccompProfile.type to RuntimeDefault or Localhost."""
    spec = request.object.spec
    if spec.os.name == "windows":
        return
    pod_level = spec.securityContext.seccompProfile.type
    if pod_level and pod_level not in ALLOWED:
        yield admit.Violation(
            f"the pod must not set seccompProfile.type={pod_level}",
            "spec.securityContext.seccompProfile.type",
        )
    for c in request.containers:
        kind = c.securityContext.seccompProfile.type
        if kind and kind not in ALLOWED:
            yield admit.Violation(
                f'container "{c.name}" must not set seccompProfile.type={kind}',
                f"{c.path}.securityContext.seccompProfile.type",
            )
        elif not kind and pod_level not in ALLOWED:
            yield admit.Violation(
                f'container "{c.name}" must set seccompProfile.type to RuntimeDefault or '
                "Localhost (or the pod must)",
                f"{c.path}.securityContext.seccompProfile.type",
            )
