"""Disallow empty Ingress host: a rule without a host catches traffic for every name the
ingress controller serves, shadowing other teams' Ingresses."""

from collections.abc import Iterator

import admit


@admit.validate("networking.k8s.io/*/Ingress")
def disallow_empty_ingress_host(request: admit.Request) -> Iterator[admit.Violation]:
    """The Ingress host name must be defined, not empty."""
    for i, rule in enumerate(request.object.spec.rules):
        if not rule.host:
            yield admit.Violation(
                "The Ingress host name must be defined, not empty.", f"spec.rules[{i}].host"
            )
