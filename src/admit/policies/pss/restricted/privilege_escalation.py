"""PSS Restricted, Privilege Escalation: every container must say
`allowPrivilegeEscalation: false`, since the default lets setuid binaries gain privileges.
Windows pods are exempt, as in the standard."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def privilege_escalation(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must set securityContext.allowPrivilegeEscalation=false."""
    if request.object.spec.os.name == "windows":
        return
    for c in request.containers:
        if c.securityContext.allowPrivilegeEscalation is not False:
            yield admit.Violation(
                f'container "{c.name}" must set securityContext.allowPrivilegeEscalation=false',
                f"{c.path}.securityContext.allowPrivilegeEscalation",
            )
