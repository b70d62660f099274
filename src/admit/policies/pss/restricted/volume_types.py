"""PSS Restricted, Volume Types: beyond hostPath, only the core volume types that cannot reach
node or network storage directly are allowed; other storage comes through PersistentVolumes."""

from collections.abc import Iterator

import admit

ALLOWED = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


@admit.validate("Pod")
def volume_types(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods may use only configMap, csi, downwardAPI, emptyDir, ephemeral,
    persistentVolumeClaim, projected and secret volumes."""
    for i, volume in enumerate(request.object.spec.volumes):
        kinds = [key for key in volume if key != "name" and key not in ALLOWED]
        if kinds:
            yield admit.Violation(
                f'volume "{volume.name}" must not be of type {", ".join(kinds)}',
                f"spec.volumes[{i}].{kinds[0]}",
            )
