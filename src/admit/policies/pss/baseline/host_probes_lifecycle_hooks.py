"""PSS Baseline, Host Probes / Lifecycle Hooks (v1.34+): a probe or lifecycle hook with an
`httpGet.host` or `tcpSocket.host` makes the kubelet connect wherever the pod says, from the
node; the host must be left unset (the pod's own IP).
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def host_probes_lifecycle_hooks(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Probes and lifecycle hooks must not reach another host."""
    return _pss.violations(request, "baseline", "Host Probes / Lifecycle Hooks", version, exclude)
