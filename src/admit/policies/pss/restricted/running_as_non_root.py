"""PSS Restricted, Running as Non-root: the kubelet must refuse to start a container as root.
`runAsNonRoot: true` on the pod covers every container that does not say otherwise; without
it, each container must set it itself. From v1.35 a pod in its own user namespace
(`hostUsers: false`) is exempt: its root is not the node's.
The check, per version, is in `admit.policies._pss.restricted`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def running_as_non_root(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must set runAsNonRoot=true, on the pod or on every container."""
    return _pss.violations(request, "restricted", "Running as Non-root", version, exclude)
