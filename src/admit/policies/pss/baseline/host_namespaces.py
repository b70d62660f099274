"""PSS Baseline, Host Namespaces: sharing the node's network, PID or IPC namespace
(`hostNetwork`, `hostPID`, `hostIPC`) breaks the isolation every other control relies on.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def host_namespaces(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must not share the host's network, PID or IPC namespaces."""
    return _pss.violations(request, "baseline", "Host Namespaces", version, exclude)
