"""PSS Baseline, HostProcess: a Windows HostProcess container has privileged access to the
node, so neither the pod nor any of its containers may ask for one."""

from collections.abc import Iterator

import admit

FIELD = "securityContext.windowsOptions.hostProcess"


@admit.validate("Pod")
def host_process(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must not run Windows HostProcess containers."""
    if request.object.spec.securityContext.windowsOptions.hostProcess is True:
        yield admit.Violation(f"the pod must not set {FIELD}=true", f"spec.{FIELD}")
    for c in request.containers:
        if c.securityContext.windowsOptions.hostProcess is True:
            yield admit.Violation(
                f'container "{c.name}" must not set {FIELD}=true', f"{c.path}.{FIELD}"
            )
