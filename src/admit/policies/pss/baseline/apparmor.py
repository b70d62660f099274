"""PSS Baseline, AppArmor: the runtime's default profile (or a profile loaded on the node) must
stay in force; disabling it (`Unconfined`) is refused, in the field and in the legacy
annotations alike."""

from collections.abc import Iterator

import admit

ALLOWED_TYPES = (None, "RuntimeDefault", "Localhost")
ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@admit.validate("Pod")
def apparmor(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must not disable or override the AppArmor profile beyond the allowed values."""
    pod = request.object
    profile = pod.spec.securityContext.appArmorProfile
    if profile.type not in ALLOWED_TYPES:
        yield admit.Violation(
            f"the pod must not set appArmorProfile.type={profile.type}",
            "spec.securityContext.appArmorProfile.type",
        )
    for c in request.containers:
        kind = c.securityContext.appArmorProfile.type
        if kind not in ALLOWED_TYPES:
            yield admit.Violation(
                f'container "{c.name}" must not set appArmorProfile.type={kind}',
                f"{c.path}.securityContext.appArmorProfile.type",
            )
    annotations = pod.metadata.annotations
    for key in annotations:
        value = str(annotations[key])
        if key.startswith(ANNOTATION) and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            yield admit.Violation(
                f"annotation {key} must not be {value!r}", f"metadata.annotations['{key}']"
            )
