"""Egress control (the fifth of the classic five): what a compromised pod can reach is decided
by egress rules, and a pod that no NetworkPolicy isolates for egress can reach everything.

So every pod (and pod template) must be selected by a NetworkPolicy of its namespace whose
policy types include Egress, and no NetworkPolicy may open egress to everywhere on every port
(an empty egress rule, or an ipBlock of 0.0.0.0/0 or ::/0 without exceptions or ports; a rule
that names only ports, such as DNS on 53, is allowed). The first rule reads the
cluster's NetworkPolicies (`admit check` uses the ones among its manifests).
"""

from collections.abc import Iterator
from typing import Any

import admit

NETWORK_POLICY = "networking.k8s.io/v1/NetworkPolicy"
EVERYWHERE = frozenset({"0.0.0.0/0", "::/0"})


def _isolates_egress(policy: Any, labels: Any) -> bool:
    spec = policy.spec
    types = spec.policyTypes or (["Ingress", "Egress"] if spec.egress else ["Ingress"])
    if "Egress" not in types:
        return False
    try:
        selector = admit.LabelSelector.parse(spec.podSelector.raw if spec.podSelector else {})
    except admit.DefinitionError:  # an invalid selector isolates nothing
        return False
    return selector.matches(labels)


@admit.validate("Pod", reads=[NETWORK_POLICY])
def egress_isolation(
    request: admit.Request, *, exempt_namespaces: tuple[str, ...] = ("kube-system",)
) -> Iterator[admit.Violation]:
    """Pods must be isolated for egress by a NetworkPolicy."""
    if request.namespace in exempt_namespaces:
        return
    policies = request.cluster.list(NETWORK_POLICY, request.namespace)
    if not any(_isolates_egress(p, request.labels) for p in policies):
        yield admit.Violation(
            f"no NetworkPolicy in namespace {request.namespace} controls the egress of pod "
            f"{request.name}: add one with policyTypes [Egress] that selects it",
            "metadata.labels",
        )


@admit.validate("networking.k8s.io/*/NetworkPolicy")
def no_open_egress(
    request: admit.Request, *, exempt_namespaces: tuple[str, ...] = ("kube-system",)
) -> Iterator[admit.Violation]:
    """NetworkPolicies must not allow egress to everywhere."""
    if request.namespace in exempt_namespaces:
        return
    for i, rule in enumerate(request.object.spec.egress):
        if not rule.to and not rule.ports:
            yield admit.Violation(
                f"egress rule {i} allows every destination on every port: name them",
                f"spec.egress[{i}]",
            )
            continue
        for j, peer in enumerate(rule.to):
            block = peer.ipBlock
            if block.cidr in EVERYWHERE and not block.get("except") and not rule.ports:
                yield admit.Violation(
                    f"egress rule {i} allows {block.cidr}: name the networks it needs",
                    f"spec.egress[{i}].to[{j}].ipBlock.cidr",
                )
