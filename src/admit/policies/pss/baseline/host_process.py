"""PSS Baseline, HostProcess: a Windows HostProcess container has privileged access to the
node, so neither the pod nor any of its containers may ask for one.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def host_process(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must not run Windows HostProcess containers."""
    return _pss.violations(request, "baseline", "HostProcess", version, exclude)
