"""PSS Baseline, Sysctls: only the "safe" sysctls, namespaced per pod and isolated from other
pods on the node, may be set. The safe set grew: net.ipv4.ip_local_reserved_ports (v1.27), the
TCP keepalive and fin timeout sysctls (v1.29), net.ipv4.tcp_rmem and tcp_wmem (v1.32),
net.ipv4.tcp_slow_start_after_idle and tcp_notsent_lowat (v1.37).
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def sysctls(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods may set only the sysctls the standard calls safe."""
    return _pss.violations(request, "baseline", "Sysctls", version, exclude)
