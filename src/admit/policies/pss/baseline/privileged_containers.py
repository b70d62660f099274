"""PSS Baseline, Privileged Containers: a privileged container disables most security
mechanisms, so no container, init container or ephemeral container may be one.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def privileged_containers(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must not be privileged."""
    return _pss.violations(request, "baseline", "Privileged Containers", version, exclude)
