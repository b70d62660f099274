"""On UPDATE, a violation the old object already had is a warning, not a denial (as Kyverno's
allowExistingViolations), judged per violation on recorded kube-apiserver UPDATEs."""

import copy

import admit
from admit.core.engine import EXISTING_NOTE
from admit.core.review import Request
from admit.loading.loader import load_bundle
from tests.helpers import SEED, recorded_review, write_bundle

SEED_SET = load_bundle(SEED)


def request_of(name_part, change=None):
    review = copy.deepcopy(recorded_review(name_part)["body"])
    if change:
        change(review["request"])
    return Request(review["request"])


def test_a_label_on_a_pod_that_predates_the_policy_is_allowed_with_a_warning():
    """Step 41: `kubectl label pod nginx-latest tier=frontend` (only metadata changes)."""
    decision = admit.evaluate(SEED_SET, request_of("41-pod-update-label-nginx-latest--02-validate"))
    assert decision.allowed is True
    assert decision.warnings == (
        "nginx:latest repo not start with 192.168.64.1" + EXISTING_NOTE,
        "nginx:latest tag end with :latest" + EXISTING_NOTE,
    )
    assert [r.result for r in decision.results] == ["warn", "warn"]


def test_the_deployment_controllers_scale_of_a_replicaset_is_allowed():
    """Step 12: the controller's UPDATE of an existing ReplicaSet from 2 to 3 replicas."""
    request = request_of("12-deployment-scale-web--02-validate-UPDATE-replicaset")
    assert request.object.spec.replicas != request.old_object.spec.replicas
    decision = admit.evaluate(SEED_SET, request)
    assert decision.allowed is True
    assert decision.warnings
    assert all(w.endswith(EXISTING_NOTE) for w in decision.warnings)


def test_a_violation_the_update_brings_is_denied_and_the_old_ones_stay_warnings():
    def new_image(req):
        req["object"]["spec"]["containers"][0]["image"] = "192.168.64.1:5000/evil:latest"

    decision = admit.evaluate(
        SEED_SET, request_of("41-pod-update-label-nginx-latest--02-validate", new_image)
    )
    assert decision.allowed is False
    assert decision.denials == ("192.168.64.1:5000/evil:latest tag end with :latest",)


def test_a_new_ephemeral_container_is_judged_as_new():
    """Step 39: `kubectl debug` adds busybox:latest to a pod through pods/ephemeralcontainers."""
    decision = admit.evaluate(
        SEED_SET, request_of("39-pod-ephemeralcontainers-debug--01-validate-UPDATE")
    )
    assert decision.allowed is False
    assert "busybox:latest tag end with :latest" in decision.denials


def test_a_rule_can_deny_existing_violations_too(tmp_path):
    rules = (SEED / "trusted_images.py").read_text()
    config = "policies:\n  trusted-images:\n    existing: deny\n"
    bundle = write_bundle(tmp_path / "b", {"trusted_images.py": rules, "admit.yaml": config})
    decision = admit.evaluate(
        load_bundle(bundle), request_of("41-pod-update-label-nginx-latest--02-validate")
    )
    assert decision.allowed is False
    assert decision.denials == (
        "nginx:latest repo not start with 192.168.64.1",
        "nginx:latest tag end with :latest",
    )


def test_existing_deny_in_the_decorator(tmp_path):
    rule = (
        "import admit\n\n@admit.validate('Pod', existing='deny')\n"
        "def no_latest(request):\n"
        "    for c in request.containers:\n"
        "        if c.image.endswith(':latest'):\n"
        "            yield f'{c.image} is latest'\n"
    )
    bundle = write_bundle(tmp_path / "b", {"r.py": rule})
    decision = admit.evaluate(
        load_bundle(bundle), request_of("41-pod-update-label-nginx-latest--02-validate")
    )
    assert decision.denials == ("nginx:latest is latest",)
