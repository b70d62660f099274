"""Check deprecated APIs: manifests written against API versions that Kubernetes has removed
stop applying on upgrade; catching them at admission (and in CI with `admit check`) gives
time to move. The table follows the Kubernetes deprecation guide."""

from collections.abc import Iterator

import admit

GUIDE = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"

# apiVersion -> the Kubernetes release that removed it (each group-version went as a whole)
REMOVED = {
    "extensions/v1beta1": "1.22",
    "apps/v1beta1": "1.16",
    "apps/v1beta2": "1.16",
    "admissionregistration.k8s.io/v1beta1": "1.22",
    "apiextensions.k8s.io/v1beta1": "1.22",
    "apiregistration.k8s.io/v1beta1": "1.22",
    "certificates.k8s.io/v1beta1": "1.22",
    "coordination.k8s.io/v1beta1": "1.22",
    "networking.k8s.io/v1beta1": "1.22",
    "rbac.authorization.k8s.io/v1beta1": "1.22",
    "scheduling.k8s.io/v1beta1": "1.22",
    "batch/v1beta1": "1.25",
    "discovery.k8s.io/v1beta1": "1.25",
    "events.k8s.io/v1beta1": "1.25",
    "autoscaling/v2beta1": "1.25",
    "policy/v1beta1": "1.25",
    "node.k8s.io/v1beta1": "1.25",
    "flowcontrol.apiserver.k8s.io/v1beta1": "1.26",
    "autoscaling/v2beta2": "1.26",
    "flowcontrol.apiserver.k8s.io/v1beta2": "1.29",
    "flowcontrol.apiserver.k8s.io/v1beta3": "1.32",
}
# storage.k8s.io/v1beta1 lost its kinds one release at a time; v1beta1 as a whole remains
STORAGE_V1BETA1 = {
    "CSIDriver": "1.22",
    "CSINode": "1.22",
    "StorageClass": "1.22",
    "VolumeAttachment": "1.22",
    "CSIStorageCapacity": "1.27",
}


@admit.validate("*")
def validate_deprecated_apis(request: admit.Request) -> Iterator[admit.Violation]:
    """Objects must not use API versions that Kubernetes has removed."""
    api_version = str(request.object.apiVersion)
    kind = str(request.object.kind)
    removed = REMOVED.get(api_version)
    if api_version == "storage.k8s.io/v1beta1":
        removed = STORAGE_V1BETA1.get(kind)
    if removed:
        yield admit.Violation(
            f"{api_version}/{kind} is deprecated and removed in v{removed}. See: {GUIDE}",
            "apiVersion",
        )
