"""PSS Restricted, Seccomp (v1.19+): a seccomp profile must be in force, `RuntimeDefault` or
`Localhost`, set on the pod or on every container. Windows pods are exempt from v1.25, as in
the standard.
The check, per version, is in `admit.policies._pss.shared`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def seccomp(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must set seccompProfile.type to RuntimeDefault or Localhost."""
    return _pss.violations(request, "restricted", "Seccomp", version, exclude)
