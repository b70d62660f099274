"""The seed bundle against every AdmissionRequest recorded from a real kube-apiserver v1.36.2."""

import pytest

import admit
from admit.loading.loader import load_bundle
from tests.helpers import recorded

TEMPLATE_KEYS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


# Subresources whose writes carry the whole pod as it will be (kubectl debug, in-place resize):
# a pod rule judges them as it judges the pod.
POD_REWRITES = ("ephemeralcontainers", "resize")


def expected_denials(request):
    """An independent oracle for the origin's rule on a recorded request: on UPDATE, what the
    old object already violated is not denied again (existing violations are warnings)."""
    keys = TEMPLATE_KEYS.get(request["kind"]["kind"])
    subresource = request.get("subResource")
    if (
        keys is None
        or (subresource and not (keys == ("spec",) and subresource in POD_REWRITES))
        or request["operation"] not in ("CREATE", "UPDATE")
    ):
        return set()
    denials = violations(request["object"], keys)
    if request["operation"] == "UPDATE":
        denials -= violations(request["oldObject"], keys)
    return denials


def violations(obj, keys):
    spec = obj
    for key in keys:
        spec = spec[key]
    images = [
        c["image"]
        for section in ("containers", "initContainers", "ephemeralContainers")
        for c in spec.get(section, [])
    ]
    denials = {
        f"{i} repo not start with 192.168.64.1" for i in images if not i.startswith("192.168.64.1")
    }
    return denials | {f"{i} tag end with :latest" for i in images if i.endswith(":latest")}


@pytest.fixture(scope="module")
def seed():
    return load_bundle("examples/seed")


@pytest.mark.parametrize("record", recorded(), ids=lambda r: r["capture"]["step"])
def test_every_recorded_request_is_decided_without_error(seed, record):
    request = record["body"]["request"]
    decision = admit.evaluate(seed, admit.Request(request))
    assert all(r.result != "error" for r in decision.results)
    assert set(decision.denials) == expected_denials(request)
    assert decision.allowed is not expected_denials(request)


def test_the_recording_covers_denials_and_workloads():
    denied = [r for r in recorded() if expected_denials(r["body"]["request"])]
    kinds = {r["body"]["request"]["kind"]["kind"] for r in denied}
    assert {"Pod", "Deployment", "ReplicaSet"} <= kinds


def test_kubectl_debug_adding_a_latest_image_is_denied_by_the_seed(seed):
    """Step 39: `kubectl debug --image=busybox:latest` is an UPDATE of pods/ephemeralcontainers
    whose object is the whole pod; judged as a pod, it is no way around the pod rules."""
    [record] = [r for r in recorded() if r["capture"]["step"] == "39-pod-ephemeralcontainers-debug"]
    request = record["body"]["request"]
    assert (request["subResource"], request["kind"]["kind"]) == ("ephemeralcontainers", "Pod")
    decision = admit.evaluate(seed, admit.Request(request))
    assert not decision.allowed
    assert set(decision.denials) == {
        "busybox:latest repo not start with 192.168.64.1",
        "busybox:latest tag end with :latest",
    }
    paths = {v.path for r in decision.results for v in r.violations}
    assert paths == {"spec.ephemeralContainers[0].image"}


def test_other_pod_subresources_are_not_judged_as_pods(seed):
    """A pod's status, binding and eviction writes do not carry a pod the rules could judge."""
    for step in ("43-pod-binding", "44-pod-gc-bound-to-missing-node", "27-pod-eviction"):
        for record in recorded():
            request = record["body"]["request"]
            if record["capture"]["step"] == step and request.get("subResource"):
                assert seed.bindings_for(admit.Request(request)) == (), (step, request["subResource"])
