"""Restrict NodePort: a NodePort Service opens a port on every node, outside the load balancers
and firewalls that guard the cluster's front door."""

from collections.abc import Iterator

import admit


@admit.validate("Service")
def validate_nodeport(request: admit.Request) -> Iterator[admit.Violation]:
    """Services of type NodePort are not allowed."""
    if request.object.spec.type == "NodePort":
        yield admit.Violation("Services of type NodePort are not allowed.", "spec.type")
