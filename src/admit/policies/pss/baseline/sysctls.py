"""PSS Baseline, Sysctls: only the "safe" sysctls, namespaced per pod and isolated from other
pods on the node, may be set."""

from collections.abc import Iterator

import admit

SAFE = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)


@admit.validate("Pod")
def sysctls(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods may set only safe sysctls."""
    for i, sysctl in enumerate(request.object.spec.securityContext.sysctls):
        if sysctl.name not in SAFE:
            yield admit.Violation(
                f"the pod must not set sysctl {sysctl.name}",
                f"spec.securityContext.sysctls[{i}].name",
            )
