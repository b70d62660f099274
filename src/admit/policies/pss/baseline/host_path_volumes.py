"""PSS Baseline, HostPath Volumes: a hostPath volume exposes the node's filesystem to the pod.
(Under Restricted, the Volume Types control refuses them too.)
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def host_path_volumes(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must not mount hostPath volumes."""
    return _pss.violations(request, "baseline", "HostPath Volumes", version, exclude)
