"""PSS Baseline, Seccomp: the seccomp profile may be left unset or be the runtime's default or a
node-local one (`RuntimeDefault`, `Localhost`), never `Unconfined`. Before v1.19 the profile was
set by the `seccomp.security.alpha.kubernetes.io` annotations, which are checked instead.
The check, per version, is in `admit.policies._pss.shared`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def seccomp(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods and containers must not disable seccomp."""
    return _pss.violations(request, "baseline", "Seccomp", version, exclude)
