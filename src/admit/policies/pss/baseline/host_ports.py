"""PSS Baseline, Host Ports: a host port binds the node's network interface, bypassing network
policies and colliding with other pods; only 0 (none) is allowed. For a range of allowed ports,
see `best_practices/disallow_host_ports_range.py`.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def host_ports(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must not use host ports."""
    return _pss.violations(request, "baseline", "Host Ports", version, exclude)
