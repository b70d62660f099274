"""Require drop ALL: capabilities grant root-like powers piecemeal; dropping them all and adding
back only what a container needs is the least-privilege default."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def require_drop_all(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must drop `ALL` capabilities."""
    for c in request.containers:
        dropped = {str(cap).upper() for cap in c.securityContext.capabilities.drop}
        if "ALL" not in dropped:
            yield admit.Violation(
                f'container "{c.name}" must drop `ALL` capabilities',
                f"{c.path}.securityContext.capabilities.drop",
            )
