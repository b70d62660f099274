"""Decoding AdmissionReviews: what a rule reads is exactly what kube-apiserver sent, while an
UPDATE's `oldObject` is decoded only when something reads it."""

import json

import pytest

from admit.core.review import Deferred, Request
from admit.core.shape import InvalidRequest
from admit.server.admission import decode_review
from admit.server.errors import HTTPError
from tests.helpers import recorded, recorded_review, wire_bytes

UPDATE = recorded_review("07-pod-update-label--02-validate-UPDATE")


def test_every_recorded_review_decodes_to_what_kube_apiserver_sent():
    for record in recorded():
        api_version, fields = decode_review(wire_bytes(record))
        sent = record["body"]["request"]
        request = Request(fields)
        assert api_version == record["body"]["apiVersion"]
        assert request.raw_old_object == sent.get("oldObject")
        assert request.raw == sent


def test_an_updates_old_object_waits_until_a_rule_reads_it():
    _, fields = decode_review(wire_bytes(UPDATE))
    assert isinstance(fields["oldObject"], Deferred)
    request = Request(fields)
    assert request.uid == UPDATE["body"]["request"]["uid"]
    assert request.labels == UPDATE["body"]["request"]["object"]["metadata"]["labels"]
    assert (
        request.old_object.metadata.labels.raw
        == (UPDATE["body"]["request"]["oldObject"]["metadata"]["labels"])
    )
    assert request.raw["oldObject"] is request.raw_old_object  # decoded once, shared


def test_a_request_field_admit_does_not_know_is_kept():
    review = json.loads(wire_bytes(UPDATE))
    review["request"]["addedInAFutureRelease"] = {"x": 1}
    _, fields = decode_review(json.dumps(review).encode())
    assert Request(fields).raw == review["request"]


def test_a_deeply_nested_old_object_gets_400_not_500():
    nested = b"[" * 5000 + b"]" * 5000
    body = wire_bytes(UPDATE).replace(b'"oldObject":{', b'"oldObject":{"deep":%s,' % nested, 1)
    with pytest.raises(HTTPError) as caught:
        decode_review(body)
    assert caught.value.http_status == 400


def test_a_malformed_old_object_is_reported_to_the_rule_that_reads_it():
    body = wire_bytes(UPDATE).replace(b'"oldObject":{', b'"oldObject":{"bad":"\xff",', 1)
    _, fields = decode_review(body)  # skipping the old object does not check its UTF-8
    request = Request(fields)
    assert request.object.metadata.name == "web-server"
    with pytest.raises(InvalidRequest, match="the body is not JSON: the request's oldObject") as c:
        request.old_object  # noqa: B018 (the read is the test)
    assert (c.value.http_status, c.value.code) == (400, "invalid_json")  # the core's own error


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (wire_bytes(UPDATE)[:-200], "not JSON"),
        (wire_bytes(UPDATE).replace(b'"uid":', b'"uuid":', 1), "no uid"),
        (wire_bytes(UPDATE).replace(b'"admission.k8s.io/v1"', b'"v1"', 1), "not supported"),
        (wire_bytes(UPDATE).replace(b'"request":', b'"req":', 1), "has no request"),
    ],
)
def test_a_broken_update_gets_the_same_errors_as_any_review(body, words):
    assert b'"oldObject":{' in body
    with pytest.raises(HTTPError) as caught:
        decode_review(body)
    assert caught.value.http_status == 400
    assert words in str(caught.value)
