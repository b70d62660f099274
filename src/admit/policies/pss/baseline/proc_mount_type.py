"""PSS Baseline, /proc Mount Type: the default /proc mask hides kernel interfaces from
containers; `procMount: Unmasked` removes it. From v1.35 a pod in its own user namespace
(`hostUsers: false`) may unmask it, the host's kernel interfaces being out of its reach.
The check, per version, is in `admit.policies._pss.shared`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def proc_mount_type(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must keep the default /proc mount, unless the pod has its own user namespace."""
    return _pss.violations(request, "baseline", "/proc Mount Type", version, exclude)
