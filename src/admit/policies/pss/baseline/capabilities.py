"""PSS Baseline, Capabilities: containers may add back only capabilities of the container
runtime's default set; anything beyond it (SYS_ADMIN, NET_RAW...) must be refused."""

from collections.abc import Iterator

import admit

ALLOWED = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


@admit.validate("Pod")
def capabilities(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must not add capabilities beyond the runtime's default set."""
    for c in request.containers:
        added = [str(cap) for cap in c.securityContext.capabilities.add if cap not in ALLOWED]
        if added:
            yield admit.Violation(
                f'container "{c.name}" must not add capabilities {", ".join(added)}',
                f"{c.path}.securityContext.capabilities.add",
            )
