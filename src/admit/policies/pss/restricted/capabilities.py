"""PSS Restricted, Capabilities (v1.22+): every container must drop ALL capabilities and may add
back only NET_BIND_SERVICE. Windows pods are exempt from v1.25, as in the standard.
The check, per version, is in `admit.policies._pss.restricted`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def capabilities(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Containers must drop ALL capabilities and add back at most NET_BIND_SERVICE."""
    return _pss.violations(request, "restricted", "Capabilities", version, exclude)
