"""Disallow the default namespace: workloads there escape the quotas, network policies and
access rules that namespaces exist to carry, and collide with each other."""

from collections.abc import Iterator

import admit

# Workload kinds first: each matches itself directly, so the rule judges the workload's own
# namespace once instead of once more through its pod template.
KINDS = (
    "apps/*/Deployment",
    "apps/*/StatefulSet",
    "apps/*/DaemonSet",
    "apps/*/ReplicaSet",
    "batch/*/Job",
    "batch/*/CronJob",
    "v1/ReplicationController",
    "Pod",
)


@admit.validate(*KINDS)
def validate_namespace(
    request: admit.Request, *, namespaces: tuple[str, ...] = ("default",)
) -> Iterator[admit.Violation]:
    """Using the 'default' namespace is not allowed."""
    if request.namespace in namespaces:
        yield admit.Violation(
            f"Using the '{request.namespace}' namespace is not allowed for {request.kind[2]}s.",
            "metadata.namespace",
        )
