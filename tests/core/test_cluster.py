"""`request.cluster`: referential rules read other objects, online (cache) and offline (check)."""

import admit
from admit.core.cluster import Cluster
from admit.testing import check

INGRESS_A = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"rules": [{"host": "shop.example.com"}, {"host": "api.example.com"}]},
}  # fmt: skip
INGRESS_B = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "api", "namespace": "team-a"},
    "spec": {"rules": [{"host": "api.example.com"}]},
}  # fmt: skip


@admit.validate("networking.k8s.io/v1/Ingress", reads=["networking.k8s.io/v1/Ingress"])
def unique_host(request):
    mine = {rule.host for rule in request.object.spec.rules if rule.host}
    for other in request.cluster.list("networking.k8s.io/Ingress"):
        meta = other.metadata
        if (meta.namespace, meta.name) == (request.namespace, request.name):
            continue
        for rule in other.spec.rules:
            if rule.host in mine:
                yield f"host {rule.host} is already used by ingress {meta.namespace}/{meta.name}"


def test_list_and_get_by_kind_with_or_without_group():
    cluster = Cluster.of([INGRESS_A, INGRESS_B, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "team-a"}}])  # fmt: skip
    assert [i.metadata.name for i in cluster.list("Ingress")] == ["web", "api"]
    assert [i.metadata.name for i in cluster.list("networking.k8s.io/v1/Ingress", "team-a")] == [
        "api"
    ]
    assert cluster.list("extensions/Ingress") == []
    assert cluster.get("Namespace", "team-a").metadata.name == "team-a"
    assert cluster.get("Ingress", "api", "default") is None
    assert len(cluster) == 3


def test_a_rule_declares_what_it_reads():
    [rule] = unique_host.__admit_rules__
    assert [str(k) for k in rule.reads] == ["networking.k8s.io/v1/Ingress"]
    assert admit.testing.policy_set(unique_host).reads == rule.reads


def test_a_referential_rule_sees_the_other_objects():
    decision = check(INGRESS_B, unique_host, cluster=[INGRESS_A, INGRESS_B])
    assert decision.denials == ("host api.example.com is already used by ingress default/web",)
    assert check(INGRESS_B, unique_host, cluster=[INGRESS_B]).allowed
    assert check(INGRESS_B, unique_host).allowed  # an empty cluster by default
