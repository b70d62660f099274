"""Disallow Helm Tiller: Tiller (Helm v2) runs with cluster-admin rights and serves any
authenticated user, a ready-made privilege escalation; Helm v3 has no Tiller."""

from collections.abc import Iterator

import admit
from admit.policies import _images


@admit.validate("Pod")
def validate_helm_tiller(request: admit.Request) -> Iterator[admit.Violation]:
    """Helm Tiller is not allowed."""
    for c in request.containers:
        repository = _images.parse(str(c.image)).repository
        if repository.rsplit("/", 1)[-1].startswith("tiller"):
            yield admit.Violation(
                f'Helm Tiller is not allowed: container "{c.name}" uses {c.image}.',
                f"{c.path}.image",
            )
