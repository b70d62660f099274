"""OPA's decision API, side by side with what OPA's REST API reference documents for the same
request (quoted in each test), against a real server (two workers, TLS, the decision log on).
A client written for OPA must get the answer OPA gives."""

import gzip
import json
import re
import uuid
from urllib.parse import quote

import pytest

from tests.helpers import write_bundle
from tests.server.harness import start_server

AUTHZ = """
import admit

@admit.decision("httpapi/authz/allow")
def allow(input):
    return input["method"] == "GET" or "admin" in input["user"]["groups"]

@admit.decision("opa/examples/allow_request")
def allow_request(input):
    return input.example.flag == True

@admit.decision("httpapi/authz/explode")
def explode(input):
    raise ValueError("no")

@admit.decision("httpapi/authz/opaque")
def opaque(input):
    return object()

@admit.decision("httpapi/authz/hangs")
def hangs(input):
    while True:
        pass
"""

RBAC = """
import admit

@admit.decision("rbac/allow")
def allow(input, data):
    \"\"\"Reads the bundle's data, as a Rego rule reads data.rbac.roles.\"\"\"
    return input.action in data.rbac.roles.get(input.role, [])

@admit.decision("system/main")
def main(input):
    return f"hello, {input.user}"
"""

DATA = json.dumps({"roles": {"reader": ["read"], "admin": ["read", "write"]}, "a/b": {"c/d": 1}})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def opa(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("opa")
    bundle = write_bundle(
        tmp / "authz-bundle",
        {"authz.py": AUTHZ, "rbac/rules.py": RBAC, "rbac/data.json": DATA,
         ".manifest": json.dumps({"revision": "rev-42"})},
    )  # fmt: skip
    server = start_server(bundle, tmp, "--rule-timeout", "0.3", workers=2, tls=tls)
    yield server
    server.stop()


def post(server, path, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.client().request(
        "POST", path, data, headers or {"Content-Type": "application/json"}
    )


def get(server, path):
    return server.client().request("GET", path)


def test_post_v1_data_with_input_answers_the_result_and_a_decision_id(opa):
    """OPA: `POST /v1/data/opa/examples/allow_request {"input": {"example": {"flag": true}}}`
    -> `200 {"result": true}`; "decision_id - If decision logging is enabled, this field
    contains a string that uniquely identifies the decision"."""
    answer = post(opa, "/v1/data/opa/examples/allow_request", {"input": {"example": {"flag": True}}})
    assert answer.status == 200
    body = answer.json()
    assert body["result"] is True
    assert UUID.match(body["decision_id"])
    assert set(body) == {"result", "decision_id"}
    admin = {"input": {"method": "POST", "user": {"groups": ["admin"]}}}
    assert post(opa, "/v1/data/httpapi/authz/allow", admin).json()["result"] is True


def test_a_body_without_the_input_key_is_undefined_input_and_a_warning_not_a_500(opa):
    """OPA answers a POST whose body has no `input` key with the decision on undefined input
    and `"warning": {"code": "api_usage_warning", "message": "'input' key missing from the
    request"}` (OPA's server tests, "post api usage warning"). The issue's repro answered 500
    `'NoneType' object is not subscriptable`."""
    answer = post(opa, "/v1/data/httpapi/authz/allow", {"method": "GET"})
    assert answer.status == 200
    body = answer.json()
    assert body["result"] is False  # input.method is undefined: not GET, no admin group
    assert body["warning"] == {
        "code": "api_usage_warning",
        "message": "'input' key missing from the request",
    }
    empty = post(opa, "/v1/data/httpapi/authz/allow", b"")
    assert (empty.status, empty.json()["result"]) == (200, False)
    assert empty.json()["warning"]["code"] == "api_usage_warning"
    given = post(opa, "/v1/data/httpapi/authz/allow", {"input": {"method": "GET"}})
    assert "warning" not in given.json()


def test_get_v1_data_works_without_input_and_takes_input_as_a_parameter(opa):
    """OPA: `GET /v1/data/{path}`, "input - Provide an input document. Format is a JSON value";
    "The server returns 400 if the input document is invalid (i.e. malformed JSON)"."""
    assert get(opa, "/v1/data/httpapi/authz/allow").json()["result"] is False
    query = quote(json.dumps({"method": "GET"}))
    assert get(opa, f"/v1/data/httpapi/authz/allow?input={query}").json()["result"] is True
    bad = get(opa, '/v1/data/httpapi/authz/allow?input={"method":')
    assert bad.status == 400
    assert bad.json()["code"] == "invalid_parameter"
    assert bad.json()["message"].startswith("parameter contains malformed input document")


def test_an_undefined_document_is_200_without_a_result(opa):
    """OPA: "The server returns 200 if the path refers to an undefined document. In this
    case, the response will not contain a `result` property." (`{}`, plus the decision id)."""
    answer = post(opa, "/v1/data/httpapi/nothing", {"input": {}})
    assert answer.status == 200
    assert set(answer.json()) == {"decision_id"}


def test_malformed_bodies_are_400_invalid_parameter(opa):
    """OPA: `{"input": @}` -> `400 {"code": "invalid_parameter", "message": "body contains
    malformed input document: ..."}`."""
    for body in (b'{"input": @}', b"[1, 2]"):
        answer = post(opa, "/v1/data/httpapi/authz/allow", body)
        assert answer.status == 400
        assert answer.json()["code"] == "invalid_parameter"
        assert answer.json()["message"].startswith("body contains malformed input document")


def test_v0_data_takes_the_raw_input_and_answers_the_bare_value(opa):
    """OPA: `POST /v0/data/opa/examples/allow_request {"example": {"flag": true}}` -> `200
    true`; "If the requested document is missing or undefined, the server will return 404 and
    the message body will contain an error object"."""
    answer = post(opa, "/v0/data/opa/examples/allow_request", {"example": {"flag": True}})
    assert (answer.status, answer.json()) == (200, True)
    missing = post(opa, "/v0/data/opa/examples/nothing", {})
    assert missing.status == 404
    assert missing.json() == {
        "code": "undefined_document",
        "message": "document missing or undefined: data.opa.examples.nothing",
    }
    assert get(opa, "/v0/data/opa/examples/allow_request").status == 405


def test_post_root_answers_the_default_decision(opa, tmp_path, tls):
    """OPA: "OPA serves POST requests without a URL path by querying for the document at path
    /data/system/main by default"; `POST / {"user": ["alice"]}` -> `200 "hello, alice"`;
    undefined: 404 `document missing: data.system.main`; `default_decision` moves it."""
    answer = post(opa, "/", {"user": "alice"})
    assert (answer.status, answer.json()) == (200, "hello, alice")
    bundle = write_bundle(tmp_path / "b", {"authz.py": AUTHZ})
    with start_server(bundle, tmp_path, "--decision-log", "off", tls=tls) as plain:
        missing = post(plain, "/", {})
        assert missing.status == 404
        assert missing.json() == {
            "code": "undefined_document",
            "message": "document missing: data.system.main",
        }
        unlogged = post(plain, "/v1/data/httpapi/authz/allow", {"input": {"method": "GET"}})
        assert unlogged.json() == {"result": True}  # no decision log, no decision_id
    with start_server(bundle, tmp_path, "--default-decision", "/httpapi/authz/allow",
                      tls=tls) as moved:  # fmt: skip
        assert post(moved, "/", {"method": "GET"}).json() is True


def test_pretty_metrics_and_provenance(opa):
    """OPA: "pretty - If parameter is true, response will be formatted for humans"; metrics
    named like `timer_rego_query_eval_ns`, `timer_server_handler_ns`; provenance "bundles: ...
    Includes the revision field which is the revision string included in a .manifest"."""
    pretty = post(opa, "/v1/data/httpapi/authz/allow?pretty=true", {"input": {"method": "GET"}})
    assert pretty.body.startswith(b'{\n  "')
    measured = post(opa, "/v1/data/httpapi/authz/allow?metrics", {"input": {"method": "GET"}})
    metrics = measured.json()["metrics"]
    assert {"timer_rego_input_parse_ns", "timer_rego_query_eval_ns",
            "timer_server_handler_ns"} <= set(metrics)  # fmt: skip
    assert all(isinstance(v, int) and v >= 0 for v in metrics.values())
    provenance = get(opa, "/v1/data/httpapi/authz/allow?provenance").json()["provenance"]
    assert provenance["bundles"] == {"authz-bundle": {"revision": "rev-42"}}
    assert provenance["version"]


def test_errors_have_opa_codes_and_shapes(opa):
    """OPA: an evaluation failure -> `500 {"code": "internal_error", "message": "error(s)
    occurred while evaluating query", "errors": [{"code", "message", "location": {"file",
    "row"}}]}`; a cancelled query's error is `eval_cancel_error`."""
    boom = post(opa, "/v1/data/httpapi/authz/explode", {"input": {}})
    assert boom.status == 500
    body = boom.json()
    assert (body["code"], body["message"]) == (
        "internal_error",
        "error(s) occurred while evaluating query",
    )
    [error] = body["errors"]
    assert error["code"] == "evaluation_error"
    assert error["message"] == "decision httpapi/authz/explode (authz/explode) raised ValueError: no"
    assert error["location"]["file"] == "authz.py"
    assert error["location"]["row"] > 0
    hang = post(opa, "/v1/data/httpapi/authz/hangs", {"input": {}})
    assert hang.status == 500
    [cancelled] = hang.json()["errors"]
    assert cancelled["code"] == "eval_cancel_error"
    assert "exceeded the 0.3s rule timeout" in cancelled["message"]
    opaque = post(opa, "/v1/data/httpapi/authz/opaque", {"input": {}})
    assert opaque.status == 500
    assert "returned a value that is not JSON" in opaque.json()["errors"][0]["message"]
    assert post(opa, "/v1/data/httpapi/authz/allow", {"input": {"method": "GET"}}).status == 200


def test_bundle_data_is_read_under_data_paths_and_by_decisions(opa):
    """OPA: `GET /v1/data` serves base documents (data files) and virtual ones (rules) in one
    tree; a path segment with an escaped slash (`a%2Fb`) is one key, as in OPA's "escaped
    paths" server test; rules read `data`."""
    assert get(opa, "/v1/data/rbac/roles/reader").json()["result"] == ["read"]
    assert get(opa, "/v1/data/rbac/roles/admin/1").json()["result"] == "write"
    rbac = get(opa, "/v1/data/rbac").json()["result"]
    assert rbac["roles"]["admin"] == ["read", "write"]
    assert rbac["allow"] is False  # the decision, evaluated on undefined input
    assert get(opa, "/v1/data/rbac/a%2Fb/c%2Fd").json()["result"] == 1
    allowed = {"input": {"role": "admin", "action": "write"}}
    assert post(opa, "/v1/data/rbac/allow", allowed).json()["result"] is True
    denied = {"input": {"role": "reader", "action": "write"}}
    assert post(opa, "/v1/data/rbac/allow", denied).json()["result"] is False
    everything = get(opa, "/v1/data")  # every decision evaluated, as OPA's whole document
    assert everything.status == 500  # is: one of them raises
    assert "httpapi/authz/explode" in everything.json()["errors"][0]["message"]


def test_a_gzip_body_is_read(opa):
    """OPA: Content-Encoding gzip "indicates the request body is a gzip encoded object"."""
    body = gzip.compress(json.dumps({"input": {"method": "GET"}}).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert post(opa, "/v1/data/httpapi/authz/allow", body, headers).json()["result"] is True


def test_health_as_opa_answers_it(opa, tmp_path, tls):
    """OPA: `GET /health` -> `200 {}`; `?bundles` -> 500 `{"error": "not all configured
    bundles have been activated"}` until a bundle is active; `?plugins` checks plugin states."""
    assert (get(opa, "/health").status, get(opa, "/health").json()) == (200, {})
    assert get(opa, "/health?bundles").status == 200
    assert get(opa, "/health?plugins").status == 200
    missing = get(opa, "/health/ready")
    assert (missing.status, missing.json()) == (
        500,
        {"error": "health policy was undefined at data.system.health.ready"},
    )


def test_decision_ids_are_unique_across_workers(opa):
    ids = {
        post(opa, "/v1/data/httpapi/authz/allow", {"input": {"method": "GET"}}).json()["decision_id"]
        for _ in range(20)
    }
    assert len(ids) == 20
    assert all(uuid.UUID(i).version == 4 for i in ids)
