"""PSS Baseline, Capabilities: containers may add back only capabilities of the container
runtime's default set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT); SYS_ADMIN, NET_RAW and the rest
are refused. The same at every version.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def capabilities(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must not add capabilities beyond the runtime's default set."""
    return _pss.violations(request, "baseline", "Capabilities", version, exclude)
