"""PSS Restricted, Running as Non-root user (v1.23+): an explicit `runAsUser: 0` would run as
root whatever the image says, so it is refused on the pod and on every container. From v1.35 a
pod in its own user namespace (`hostUsers: false`) is exempt.
The check, per version, is in `admit.policies._pss.restricted`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def running_as_non_root_user(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods and containers must not set runAsUser=0."""
    return _pss.violations(request, "restricted", "Running as Non-root user", version, exclude)
