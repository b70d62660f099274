"""PSS Baseline, AppArmor: the runtime's default profile (or a profile loaded on the node) must
stay in force: `appArmorProfile.type` (pod and containers) may only be RuntimeDefault or
Localhost, and the legacy `container.apparmor.security.beta.kubernetes.io/*` annotations only
empty, `runtime/default` or `localhost/*`. The same at every version.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def apparmor(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must not disable or override the AppArmor profile beyond the allowed values."""
    return _pss.violations(request, "baseline", "AppArmor", version, exclude)
