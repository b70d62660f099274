"""The shape of an AdmissionRequest: the first field that breaks it is named, values are
quoted short and safely, and what kube-apiserver may leave out or send as null is accepted."""

import pytest

from admit.core.shape import deepest_field, depth, request_problem, show
from tests.helpers import recorded


def test_every_recorded_request_has_the_shape():
    assert {request_problem(r["body"]["request"]) for r in recorded()} == {None}


@pytest.mark.parametrize(
    "field", ["resource", "subResource", "requestKind", "requestResource", "requestSubResource",
              "name", "namespace", "userInfo", "object", "oldObject", "options", "dryRun"],
)  # fmt: skip
def test_optional_fields_may_be_null_or_absent(field):
    request = dict(recorded()[0]["body"]["request"])
    request[field] = None
    assert request_problem(request) is None
    del request[field]
    assert request_problem(request) is None


@pytest.mark.parametrize("field", ["uid", "kind", "operation"])
def test_uid_kind_and_operation_are_required(field):
    request = dict(recorded()[0]["body"]["request"])
    del request[field]
    assert request_problem(request) == (
        f"the AdmissionReview request has no {field} (request.{field})"
    )


def test_quoted_values_are_short_whatever_their_size_or_depth():
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    assert show(deep) == "array [[[...]]]"
    assert show("y" * 10_000) == "string 'yyyyyyyyyyyyyyyyy...yyyyyyyyyyyyyyyyyy'"
    assert show(10**5000) == "number"  # more digits than Python prints
    assert (show(None), show(True), show(1.5)) == ("null", "true", "number 1.5")
    assert depth(deep) == 100_000


def test_the_deepest_field_is_named():
    request = {"uid": "u", "object": {"a": [[{"b": 1}]]}, "oldObject": {"a": 1}}
    assert deepest_field(request) == "object"
