"""PSS Restricted, /proc Mount Type (v1.35+): where Baseline lets a pod in its own user
namespace unmask /proc, Restricted still requires the default mask of every pod. (Before v1.35
the Baseline rule refuses `Unmasked` for every pod.)
The check, per version, is in `admit.policies._pss.shared`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def proc_mount_type(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must keep the default /proc mount, even in their own user namespace."""
    return _pss.violations(request, "restricted", "/proc Mount Type", version, exclude)
