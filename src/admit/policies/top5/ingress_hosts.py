"""Ingress hosts (the fourth of the classic five): a team may publish only host names it owns,
and never one that another namespace already serves.

The hosts a namespace may use are the globs of `allowed_hosts` (for every namespace) and those
listed, comma-separated, in the namespace's annotation `admit/allowed-ingress-hosts`
(`"*.team-a.example.com, a.example.com"`), so cluster admins delegate names by annotating
namespaces; with neither, no host is allowed. Both rules read the cluster
(`request.cluster`): namespaces for the annotation, Ingresses for conflicts.
"""

from collections.abc import Iterator
from fnmatch import fnmatchcase

import admit

INGRESS = "networking.k8s.io/v1/Ingress"
NAMESPACE = "v1/Namespace"


@admit.validate("networking.k8s.io/*/Ingress", reads=[NAMESPACE])
def host_allowlist(
    request: admit.Request,
    *,
    allowed_hosts: tuple[str, ...] = (),
    annotation: str = "admit/allowed-ingress-hosts",
) -> Iterator[admit.Violation]:
    """Ingress hosts must be allowed for the Ingress's namespace."""
    patterns = list(allowed_hosts)
    namespace = request.cluster.get(NAMESPACE, request.namespace)
    if namespace is not None:
        listed = str(namespace.metadata.annotations.get(annotation) or "")
        patterns += [p.strip() for p in listed.split(",") if p.strip()]
    for i, rule in enumerate(request.object.spec.rules):
        host = str(rule.host or "")
        if not any(fnmatchcase(host, p) for p in patterns):
            yield admit.Violation(
                f"host {host or '(empty)'} is not allowed in namespace {request.namespace} "
                f"(allowed: {', '.join(patterns) or 'none'})",
                f"spec.rules[{i}].host",
            )


@admit.validate("networking.k8s.io/*/Ingress", reads=[INGRESS])
def host_conflicts(request: admit.Request) -> Iterator[admit.Violation]:
    """An Ingress host must not be served by an Ingress of another namespace."""
    owners: dict[str, str] = {}
    for other in request.cluster.list(INGRESS):
        namespace = other.metadata.namespace or ""
        if namespace == request.namespace:
            continue  # a namespace may split one host across several Ingresses
        for rule in other.spec.rules:
            if rule.host:
                owners.setdefault(str(rule.host), f"{namespace}/{other.metadata.name}")
    for i, rule in enumerate(request.object.spec.rules):
        if rule.host in owners:
            yield admit.Violation(
                f"host {rule.host} conflicts with Ingress {owners[rule.host]}",
                f"spec.rules[{i}].host",
            )
