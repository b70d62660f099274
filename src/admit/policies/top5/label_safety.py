"""Label safety (the second of the classic five): selectors, network policies, cost reports and
on-call routing all key on labels, so the labels they rely on must be present on what is
created and must not change or vanish afterwards.

Pods created by a controller (with a controller owner reference) pass `required_labels`: their
workload was checked, and its template decides their labels.
"""

from collections.abc import Iterator

import admit

# Direct kinds first, so a workload is judged by its own labels rather than its template's.
KINDS = (
    "v1/Namespace",
    "v1/Service",
    "networking.k8s.io/*/Ingress",
    "apps/*/Deployment",
    "apps/*/StatefulSet",
    "apps/*/DaemonSet",
    "batch/*/Job",
    "batch/*/CronJob",
    "Pod",
)


@admit.validate(*KINDS)
def required_labels(
    request: admit.Request, *, labels: tuple[str, ...] = ("owner",)
) -> Iterator[admit.Violation]:
    """Objects must carry the required labels."""
    owners = request.object.metadata.ownerReferences
    if any(ref.controller is True for ref in owners):
        return
    for label in labels:
        if not request.labels.get(label):
            yield admit.Violation(
                f"{request.kind[2]} {request.name} must have the label {label}",
                "metadata.labels",
            )


@admit.validate(*KINDS, operations=["UPDATE"])
def immutable_labels(
    request: admit.Request, *, labels: tuple[str, ...] = ("owner",)
) -> Iterator[admit.Violation]:
    """Required labels, once set, must not change or be removed."""
    before = request.old_labels or {}
    after = request.labels
    for label in labels:
        if label in before and after.get(label) != before[label]:
            now = after.get(label)
            change = f"changed to {now!r}" if now is not None else "removed"
            yield admit.Violation(
                f"the label {label}={before[label]!r} of {request.kind[2]} {request.name} "
                f"must not change ({change})",
                "metadata.labels",
            )
