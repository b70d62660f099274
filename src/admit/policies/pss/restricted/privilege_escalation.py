"""PSS Restricted, Privilege Escalation: every container must say
`allowPrivilegeEscalation: false`, since the default lets setuid binaries gain privileges.
Windows pods are exempt from v1.25, as in the standard.
The check, per version, is in `admit.policies._pss.restricted`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def privilege_escalation(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must set securityContext.allowPrivilegeEscalation=false."""
    return _pss.violations(request, "restricted", "Privilege Escalation", version, exclude)
