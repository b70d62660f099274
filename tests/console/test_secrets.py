"""The console shows no Secret: a Secret's data and stringData values and the
last-applied-configuration annotation (of any kind) are redacted wherever a request is stored
or shown (the live stream, a decision's detail, its patch, the playground's answers)."""

import copy
import json

import pytest

from admit.console.app import ConsoleApp
from admit.console.decisions import DecisionFeed
from admit.console.stats import MetricsHistory
from admit.core.engine import evaluate
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.server.feed import decode, encode, record
from admit.server.redact import LAST_APPLIED, REDACTED, redact_object, redact_patch
from tests.console.test_app import api, call
from tests.helpers import recorded_review, write_bundle

PASSWORD = "hunter2-do-not-show"
ENCODED = "aHVudGVyMi1kby1ub3Qtc2hvdw=="  # base64 of PASSWORD

MUTATING = """
import admit

@admit.mutate("Secret")
def add_a_key(obj):
    obj.setdefault("data", {})["added"] = "c2VjcmV0LXRvbw=="
    obj.annotations["kubectl.kubernetes.io/last-applied-configuration"] = "secret-too"

@admit.validate("Secret", existing="deny")  # the old object has the key too
def never_named_password(request):
    if "password" in request.object.data:
        yield "a key named password"
"""


def secret_review(operation="UPDATE"):
    """The recorded ConfigMap UPDATE, made a Secret with a password in data, in stringData and
    in the last-applied annotation (as `kubectl apply` of a stringData manifest leaves it)."""
    review = copy.deepcopy(recorded_review("19-configmap-update--01-validate-UPDATE")["body"])
    request = review["request"]
    for field in ("kind", "requestKind"):
        request[field]["kind"] = "Secret"
    for field in ("resource", "requestResource"):
        request[field]["resource"] = "secrets"
    request["operation"] = operation
    applied = json.dumps({"kind": "Secret", "stringData": {"password": PASSWORD}})
    for side in ("object", "oldObject"):
        obj = request[side]
        obj["kind"] = "Secret"
        obj["data"] = {"password": ENCODED}
        obj["stringData"] = {"password": PASSWORD}
        obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied
    return review


def shown(value):
    return json.dumps(value)


@pytest.fixture
def console(tmp_path):
    bundle = write_bundle(tmp_path / "b", {"secrets.py": MUTATING})
    policies = load_bundle(bundle)
    from admit.server.policies import FixedPolicies

    feed = DecisionFeed(tmp_path / "unused.sock")
    return ConsoleApp(FixedPolicies(policies), feed, MetricsHistory(None), evaluate)


def publish(console, review):
    request = Request(copy.deepcopy(review["request"]))
    decision = evaluate(console.policies.current(), request)
    assert decision.patch, "the mutation must have written into the Secret"
    body = json.dumps(review).encode()
    sent = record(decision, endpoint="/mutate", seconds=0.001, bundle="x")
    for entry in decode(encode(sent, body)):
        console.feed.add(entry)


def test_a_secrets_values_never_reach_the_stream_or_its_detail(console):
    publish(console, secret_review())
    [brief] = api(console, "/api/decisions")["decisions"]
    full = api(console, f"/api/decisions/{brief['id']}")
    text = shown(full) + shown(brief)
    assert PASSWORD not in text
    assert ENCODED not in text
    assert "c2VjcmV0LXRvbw==" not in text  # the value the mutation added, in the patch
    assert "secret-too" not in text  # the annotation the mutation wrote
    for side in ("object", "oldObject"):
        obj = full["request"][side]
        assert obj["data"] == {"password": REDACTED}  # the keys stay: a policy can be debugged
        assert obj["stringData"] == {"password": REDACTED}
        assert obj["metadata"]["annotations"][LAST_APPLIED] == REDACTED
    assert full["message"] == "a key named password"  # what the rule said is kept
    assert {(op["path"], op["value"]) for op in full["patch"]} == {
        ("/data/added", REDACTED),
        ("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration", REDACTED),
    }


def test_the_last_applied_annotation_is_redacted_on_any_kind():
    review = recorded_review("07-pod-update-label--02-validate-UPDATE")["body"]
    pod = review["request"]["object"]
    assert LAST_APPLIED in pod["metadata"]["annotations"]
    redacted = redact_object(pod)
    assert redacted["metadata"]["annotations"][LAST_APPLIED] == REDACTED
    assert redacted["spec"] is pod["spec"]  # copied only along the changed path
    assert pod["metadata"]["annotations"][LAST_APPLIED] != REDACTED  # the input is untouched


def test_patches_that_write_a_secrets_data_or_the_annotation_are_redacted():
    pointer = "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
    ops = [
        {"op": "add", "path": "/data/token", "value": "c2VjcmV0"},
        {"op": "replace", "path": "/stringData", "value": {"token": "secret"}},
        {"op": "add", "path": pointer, "value": '{"stringData": {"token": "secret"}}'},
        {"op": "add", "path": "/metadata/annotations", "value": {LAST_APPLIED: "secret"}},
        {"op": "add", "path": "/metadata/labels/app", "value": "web"},
        {"op": "remove", "path": "/data/old"},
    ]
    redacted = redact_patch(ops, secret=True)
    assert [op.get("value") for op in redacted] == [
        REDACTED,
        {"token": REDACTED},
        REDACTED,
        {LAST_APPLIED: REDACTED},
        "web",
        None,
    ]
    not_a_secret = redact_patch(ops, secret=False)
    assert not_a_secret[0] == ops[0]  # a ConfigMap's data is shown
    assert not_a_secret[2]["value"] == REDACTED  # the annotation never is


def test_the_playground_answers_without_the_secret(console):
    manifest = secret_review()["request"]["object"]
    body = json.dumps({"text": json.dumps(manifest), "operation": "UPDATE"}).encode()
    status, _, answer = call(console, "POST", "/api/playground", body)
    assert status == 200, answer
    assert PASSWORD.encode() not in answer
    assert ENCODED.encode() not in answer
    [entry] = json.loads(answer)["decisions"]
    assert entry["request"]["oldObject"]["data"] == {"password": REDACTED}
