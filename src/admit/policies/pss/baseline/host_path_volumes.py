"""PSS Baseline, HostPath Volumes: a hostPath volume exposes the node's filesystem to the pod."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def host_path_volumes(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must not mount hostPath volumes."""
    for i, volume in enumerate(request.object.spec.volumes):
        if volume.get("hostPath") is not None:
            yield admit.Violation(
                f'volume "{volume.name}" must not be a hostPath volume',
                f"spec.volumes[{i}].hostPath",
            )
