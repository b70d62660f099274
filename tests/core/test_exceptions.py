"""Policy exceptions: an owned, expiring exception turns a rule's violations on the objects it
covers into an `excepted` result, which never denies; judged on recorded kube-apiserver requests."""

import copy
import time

import admit
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.server.admission import response_for
from tests.helpers import SEED, recorded_review, write_bundle

RULES = (SEED / "trusted_images.py").read_text()
DEPLOYMENT = "11-deployment-create-web--01-validate-CREATE-deployment-web"  # one :latest image
POD = "40-pod-create-nginx-latest--03-validate-CREATE-pod-nginx-latest"  # nginx:latest


def bundle(tmp_path, exceptions):
    files = {"trusted_images.py": RULES, "exceptions.yaml": exceptions}
    return load_bundle(write_bundle(tmp_path / "b", files))


def request_of(name_part, change=None):
    review = copy.deepcopy(recorded_review(name_part)["body"])
    if change:
        change(review["request"])
    return Request(review["request"])


LEGACY_WEB = """\
exceptions:
- name: legacy-web
  owner: team-web
  reason: the web deployment moves off :latest in the next release
  expires: {expires}
  policies: [trusted-images/disallow_latest_tag]
  match:
    kinds: [apps/Deployment]
    namespaces: [default]
    names: [web*]
"""


def test_an_exception_in_force_allows_the_object_and_records_who_excepted_it(tmp_path):
    policies = bundle(tmp_path, LEGACY_WEB.format(expires="2999-12-31"))
    decision = admit.evaluate(policies, request_of(DEPLOYMENT))
    assert decision.allowed is True
    assert decision.denials == ()
    [tag] = [r for r in decision.results if r.rule == "disallow_latest_tag"]
    assert tag.result == "excepted"
    assert tag.exception is not None
    assert tag.exception.name == "legacy-web"
    assert [v.message for v in tag.violations] == [
        "192.168.64.1:5000/nginx:latest tag end with :latest"
    ]
    assert decision.audits == (
        (
            "trusted-images/disallow_latest_tag",
            "excepted by legacy-web, owner team-web, expires 2999-12-31: "
            "192.168.64.1:5000/nginx:latest tag end with :latest",
        ),
    )
    annotations = response_for("u", decision, mutating=False)["auditAnnotations"]
    assert annotations == {
        "trusted-images.disallow_latest_tag": "excepted by legacy-web, owner team-web, expires "
        "2999-12-31: 192.168.64.1:5000/nginx:latest tag end with :latest"
    }


def test_an_expired_exception_no_longer_applies(tmp_path):
    policies = bundle(tmp_path, LEGACY_WEB.format(expires="2020-01-31"))
    decision = admit.evaluate(policies, request_of(DEPLOYMENT))
    assert decision.allowed is False
    assert decision.denials == ("192.168.64.1:5000/nginx:latest tag end with :latest",)
    [exception] = policies.exceptions
    assert exception.expired()
    assert exception.expires_text == "2020-01-31"


def test_a_date_is_in_force_through_its_whole_day_utc(tmp_path):
    today = time.strftime("%Y-%m-%d", time.gmtime())
    policies = bundle(tmp_path, LEGACY_WEB.format(expires=today))
    assert admit.evaluate(policies, request_of(DEPLOYMENT)).allowed is True
    [exception] = policies.exceptions
    assert exception.expiring()  # and /readyz lists it among those expiring within 7 days


def test_an_exception_covers_only_the_objects_it_names(tmp_path):
    policies = bundle(tmp_path, LEGACY_WEB.format(expires="2999-12-31"))

    def other_namespace(request):
        request["namespace"] = request["object"]["metadata"]["namespace"] = "team-a"

    def other_name(request):
        request["name"] = request["object"]["metadata"]["name"] = "api"

    for change in (other_namespace, other_name):
        decision = admit.evaluate(policies, request_of(DEPLOYMENT, change))
        assert decision.allowed is False, change.__name__
    # a Pod is not an apps/Deployment, though the same rule judges it
    assert admit.evaluate(policies, request_of(POD)).denials == (
        "nginx:latest repo not start with 192.168.64.1",
        "nginx:latest tag end with :latest",
    )


def test_an_exception_naming_a_policy_covers_every_rule_of_it_and_a_selector_picks_objects(
    tmp_path,
):
    text = """\
exceptions:
- name: nginx-latest-pod
  owner: platform
  reason: a demo pod
  expires: 2999-01-01T00:00:00Z
  policies: [trusted-images]
  match:
    selector: {matchLabels: {run: nginx-latest}}
"""
    policies = bundle(tmp_path, text)
    decision = admit.evaluate(policies, request_of(POD))
    assert decision.allowed is True
    assert [r.result for r in decision.results] == ["excepted", "excepted"]
    assert decision.results[0].exception.expires_text == "2999-01-01T00:00:00Z"

    def relabel(request):
        request["object"]["metadata"]["labels"] = {"run": "other"}

    assert admit.evaluate(policies, request_of(POD, relabel)).allowed is False


def test_passing_rules_stay_pass_and_a_warning_on_an_excepted_object_is_excepted_too(tmp_path):
    policies = bundle(tmp_path, LEGACY_WEB.format(expires="2999-12-31"))
    decision = admit.evaluate(policies, request_of(DEPLOYMENT))
    assert [r.result for r in decision.results] == ["pass", "excepted"]
    # On an UPDATE the old object's violation is a warning (existing); the exception still
    # records it as excepted rather than warning about it.
    scale = request_of("12-deployment-scale-web--02-validate-UPDATE-replicaset")
    text = LEGACY_WEB.format(expires="2999-12-31").replace("apps/Deployment", "ReplicaSet")
    replicaset = bundle(tmp_path / "rs", text)
    decision = admit.evaluate(replicaset, scale)
    assert decision.warnings == ()
    assert [r.result for r in decision.results] == ["pass", "excepted"]
