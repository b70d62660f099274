"""Require labels: labels identify what a workload is to people and tools (dashboards, cost
reports, `kubectl get -l`); pods, and the pod templates of workloads, must carry them."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def check_for_labels(
    request: admit.Request, *, labels: tuple[str, ...] = ("app.kubernetes.io/name",)
) -> Iterator[admit.Violation]:
    """The required labels must be set, with a non-empty value."""
    present = request.labels
    for label in labels:
        if not present.get(label):
            yield admit.Violation(f"The label `{label}` is required.", "metadata.labels")
