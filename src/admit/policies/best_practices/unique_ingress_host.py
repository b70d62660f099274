"""Unique Ingress host: two Ingresses claiming one host name make the ingress controller pick
one at random, so a new or changed Ingress may not use a host another Ingress already has.

Referential: it reads the other Ingresses from `request.cluster` (the server's cache; with
`admit check`, the other manifests checked).
"""

from collections.abc import Iterator

import admit

INGRESS = "networking.k8s.io/v1/Ingress"


@admit.validate("networking.k8s.io/*/Ingress", reads=[INGRESS])
def check_host(request: admit.Request) -> Iterator[admit.Violation]:
    """The Ingress host name must be unique."""
    me = (request.namespace, request.name)
    taken: dict[str, str] = {}
    for other in request.cluster.list(INGRESS):
        key = (other.metadata.namespace or "", other.metadata.name)
        if key == me:
            continue
        for rule in other.spec.rules:
            if rule.host:
                taken.setdefault(rule.host, f"{key[0]}/{key[1]}" if key[0] else key[1])
    for i, rule in enumerate(request.object.spec.rules):
        if rule.host in taken:
            yield admit.Violation(
                f"The Ingress host name must be unique: {rule.host} is already used by "
                f"Ingress {taken[rule.host]}.",
                f"spec.rules[{i}].host",
            )
