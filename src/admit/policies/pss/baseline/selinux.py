"""PSS Baseline, SELinux: a custom SELinux user or role, or a type outside the container types,
could escape confinement; pod and container options are checked alike. Allowed types: "",
container_t, container_init_t, container_kvm_t, and from v1.31 container_engine_t.
The check, per version, is in `admit.policies._pss.baseline`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def selinux(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods must not set a custom SELinux user or role, or a non-container type."""
    return _pss.violations(request, "baseline", "SELinux", version, exclude)
