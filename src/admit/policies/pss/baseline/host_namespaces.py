"""PSS Baseline, Host Namespaces: sharing the node's network, PID or IPC namespace breaks the
isolation every other control relies on."""

from collections.abc import Iterator

import admit

FIELDS = ("hostNetwork", "hostPID", "hostIPC")


@admit.validate("Pod")
def host_namespaces(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must not share the host's network, PID or IPC namespaces."""
    spec = request.object.spec
    for field in FIELDS:
        if spec.get(field) is True:
            yield admit.Violation(f"the pod must not set {field}=true", f"spec.{field}")
