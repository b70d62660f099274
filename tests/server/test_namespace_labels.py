"""Namespace selectors in the webhook: labels come from the cluster cache of Namespaces, which a
bundle with namespace selectors reads automatically."""

import json

import admit
from admit.core.cluster import Cluster
from admit.core.engine import NAMESPACES
from admit.server.app import AdmitApp
from admit.server.policies import FixedPolicies
from admit.testing import policy_set
from tests.helpers import SEED


@admit.validate(match=admit.Match.of("Pod", namespace_selector={"matchLabels": {"env": "prod"}}))
def prod_only(request):
    return "no pods in prod"


class Cache:
    """A ClusterSource holding fixed objects (the reflector is tested on its own)."""

    def __init__(self, *objects):
        self.cluster = Cluster.of(objects)
        self.synced = True

    def status(self):
        return {}

    async def follow(self, reads):
        pass


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_a_bundle_with_namespace_selectors_reads_namespaces():
    assert NAMESPACES in policy_set(prod_only).reads
    assert str(NAMESPACES) == "v1/Namespace"


def test_the_webhook_matches_namespace_selectors_from_the_cache():
    review = (SEED / "reviews" / "pod-ok.json").read_bytes()  # a pod in "default"
    ps = policy_set(prod_only)
    prod = AdmitApp(
        FixedPolicies(ps), rule_timeout=0, cluster=Cache(namespace("default", env="prod"))
    )
    dev = AdmitApp(
        FixedPolicies(ps), rule_timeout=0, cluster=Cache(namespace("default", env="dev"))
    )
    unknown = AdmitApp(FixedPolicies(ps), rule_timeout=0)

    def answer(app):
        return json.loads(app.admit(review, "/validate", "validate")[1])["response"]["allowed"]

    assert answer(prod) is False
    assert answer(dev) is True
    assert answer(unknown) is True  # labels unknown: the selector does not match
