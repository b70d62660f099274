"""PSS Baseline, SELinux: a custom SELinux user or role, or a type outside the container types,
could escape confinement; pod and container options are checked alike."""

from collections.abc import Iterator
from typing import Any

import admit

ALLOWED_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def _problems(options: Any, owner: str, path: str) -> Iterator[admit.Violation]:
    kind = options.type
    if kind and kind not in ALLOWED_TYPES:  # unset (MISSING) and "" are allowed
        yield admit.Violation(f"{owner} must not set seLinuxOptions.type={kind}", f"{path}.type")
    for field in ("user", "role"):
        if options.get(field):
            yield admit.Violation(f"{owner} must not set seLinuxOptions.{field}", f"{path}.{field}")


@admit.validate("Pod")
def selinux(request: admit.Request) -> Iterator[admit.Violation]:
    """Pods must not set a custom SELinux user or role, or a non-container type."""
    yield from _problems(
        request.object.spec.securityContext.seLinuxOptions,
        "the pod",
        "spec.securityContext.seLinuxOptions",
    )
    for c in request.containers:
        yield from _problems(
            c.securityContext.seLinuxOptions,
            f'container "{c.name}"',
            f"{c.path}.securityContext.seLinuxOptions",
        )
