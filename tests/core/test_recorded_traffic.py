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


def expected_denials(request):
    """An independent oracle for the origin's rule on a recorded request."""
    keys = TEMPLATE_KEYS.get(request["kind"]["kind"])
    if (
        keys is None
        or request.get("subResource")
        or request["operation"] not in ("CREATE", "UPDATE")
    ):
        return set()
    spec = request["object"]
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
