"""PSS Restricted, Capabilities: every container must drop ALL capabilities and may add back
only NET_BIND_SERVICE. Windows pods are exempt, as in the standard."""

from collections.abc import Iterator

import admit

ADDABLE = frozenset({"NET_BIND_SERVICE"})


@admit.validate("Pod")
def capabilities(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must drop ALL capabilities and add back at most NET_BIND_SERVICE."""
    if request.object.spec.os.name == "windows":
        return
    for c in request.containers:
        caps = c.securityContext.capabilities
        if "ALL" not in caps.drop:
            yield admit.Violation(
                f'container "{c.name}" must set securityContext.capabilities.drop=["ALL"]',
                f"{c.path}.securityContext.capabilities.drop",
            )
        added = [str(cap) for cap in caps.add if cap not in ADDABLE]
        if added:
            yield admit.Violation(
                f'container "{c.name}" must not add capabilities {", ".join(added)} '
                "(only NET_BIND_SERVICE)",
                f"{c.path}.securityContext.capabilities.add",
            )
