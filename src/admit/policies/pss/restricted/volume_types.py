"""PSS Restricted, Volume Types: only the volume types that cannot reach node or network
storage directly are allowed (configMap, csi, downwardAPI, emptyDir, ephemeral, image,
persistentVolumeClaim, projected, secret); other storage comes through PersistentVolumes. Image
volumes are allowed at every version, as the reference implementation allows them.
The check, per version, is in `admit.policies._pss.restricted`.
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss


@admit.validate("Pod")
def volume_types(
    request: admit.Request, *, version: _pss.Version = "latest", exclude: _pss.Exclusions = ()
) -> Iterator[admit.Violation]:
    """Pods may use only volume types that cannot reach node or network storage directly."""
    return _pss.violations(request, "restricted", "Volume Types", version, exclude)
