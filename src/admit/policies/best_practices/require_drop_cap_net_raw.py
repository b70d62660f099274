"""Require drop CAP_NET_RAW: the capability, granted by default, lets a container forge packets
and bind to any interface, enabling man-in-the-middle attacks on its neighbours."""

from collections.abc import Iterator

import admit

DROPS_NET_RAW = frozenset({"NET_RAW", "CAP_NET_RAW", "ALL"})


@admit.validate("Pod")
def require_drop_cap_net_raw(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must drop the `CAP_NET_RAW` capability."""
    for c in request.containers:
        dropped = {str(cap).upper() for cap in c.securityContext.capabilities.drop}
        if not dropped & DROPS_NET_RAW:
            yield admit.Violation(
                f'container "{c.name}" must drop the `CAP_NET_RAW` capability',
                f"{c.path}.securityContext.capabilities.drop",
            )
