"""Require probes: without a liveness, readiness or startup probe Kubernetes cannot tell a
hung or unready container from a healthy one, during rollouts or afterwards.

Pods that run to completion (Jobs, CronJobs, pods a Job owns) pass: probes keep long-running
services healthy and have no use there.
"""

from collections.abc import Iterator

import admit

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _runs_to_completion(request: admit.Request) -> bool:
    workload = (request.raw.get("kind") or {}).get("kind")  # the workload of a pod template
    if workload in ("Job", "CronJob"):
        return True
    return any(ref.kind == "Job" for ref in request.object.metadata.ownerReferences)


@admit.validate("Pod")
def validate_probes(request: admit.Request) -> Iterator[admit.Violation]:
    """Liveness, readiness, or startup probes are required for all containers."""
    if _runs_to_completion(request):
        return
    for c in request.containers:
        if c.section == "containers" and not any(c.get(p) for p in PROBES):
            yield admit.Violation(
                f'container "{c.name}" needs a livenessProbe, readinessProbe or startupProbe',
                f"{c.path}.livenessProbe",
            )
