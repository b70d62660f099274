"""Bad input gets a clear 4xx with a JSON error, and the next good request is still answered."""

import contextlib
import copy
import json
import socket
import ssl
import time

import pytest

from tests.helpers import SEED, recorded_review, wire_bytes

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()
UPDATE = recorded_review("07-pod-update-label--02-validate-UPDATE")["body"]


def review(**changes):
    doc = json.loads(GOOD)
    doc.update(changes)
    return json.dumps(doc).encode()


def without_uid():
    doc = json.loads(GOOD)
    del doc["request"]["uid"]
    return json.dumps(doc).encode()


def delete_with_old_object_not_utf8():
    """A DELETE without a name: the webhook itself reads the (deferred) old object for it."""
    doc = json.loads(GOOD)
    doc["request"].update(operation="DELETE", object=None, oldObject={"metadata": {"name": "X"}})
    del doc["request"]["name"]
    return json.dumps(doc).encode().replace(b'"name": "X"', b'"name": "\xff"')


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (b"{not json", 400, "invalid_json", "not JSON"),
        (b"[1, 2]", 400, "invalid_review", "must be an AdmissionReview object"),
        (review(apiVersion="admission.k8s.io/v2"), 400, "invalid_review", "not supported"),
        (review(kind="Pod"), 400, "invalid_review", "is not AdmissionReview"),
        (review(request=None), 400, "invalid_review", "has no request"),
        (without_uid(), 400, "invalid_review", "has no uid"),
        (delete_with_old_object_not_utf8(), 400, "invalid_json", "oldObject"),
        (b"x" * 70000, 413, "body_too_large", "exceeds the 65536-byte limit"),
    ],
)
def test_bad_reviews_get_a_4xx_and_the_server_keeps_serving(seed_server, body, status, code, words):
    client = seed_server.client()
    answer = client.post("/validate", body)
    assert answer.status == status
    error = answer.json()
    assert error["code"] == code
    assert words in error["message"]
    fresh = seed_server.client()
    assert fresh.post("/validate", GOOD).json()["response"]["allowed"] is True


WRONG_TYPES = [  # (path in the review, wrong value, words of the answer)
    (("apiVersion",), ["admission.k8s.io/v1"], "apiVersion array"),
    (("kind",), {"kind": "AdmissionReview"}, "kind object"),
    (("request", "uid"), 7, "request.uid must be a non-empty string, got number 7"),
    (("request", "uid"), "", "request.uid must be a non-empty string"),
    (("request", "kind"), "Pod", "request.kind must be an object of strings, got string 'Pod'"),
    (("request", "kind"), [], "request.kind must be an object of strings, got array []"),
    (("request", "kind", "group"), 1, "request.kind.group must be a string, got number 1"),
    (("request", "kind", "kind"), None, "request.kind.kind must be a string, got null"),
    (("request", "kind", "kind"), "K" * 300, "request.kind.kind is 300 characters long"),
    (("request", "resource"), "pods", "request.resource must be an object of strings"),
    (("request", "resource", "resource"), ["pods"], "request.resource.resource must be a string"),
    (("request", "requestKind"), [1], "request.requestKind must be an object of strings"),
    (("request", "requestKind", "version"), {}, "request.requestKind.version must be a string"),
    (("request", "requestResource"), True, "request.requestResource must be an object"),
    (("request", "requestResource", "group"), 0, "request.requestResource.group must be a str"),
    (("request", "subResource"), 5, "request.subResource must be a string, got number 5"),
    (("request", "requestSubResource"), [], "request.requestSubResource must be a string"),
    (("request", "name"), {"a": 1}, "request.name must be a string, got object {'a': 1}"),
    (("request", "namespace"), 12, "request.namespace must be a string, got number 12"),
    (("request", "operation"), "PATCH", "request.operation must be one of CONNECT, CREATE, DELE"),
    (("request", "operation"), ["CREATE"], "request.operation must be one of"),
    (("request", "userInfo"), "admin", "request.userInfo must be an object, got string 'admin'"),
    (("request", "userInfo", "username"), 0, "request.userInfo.username must be a string"),
    (("request", "userInfo", "uid"), [], "request.userInfo.uid must be a string"),
    (("request", "userInfo", "groups"), "system:masters", "request.userInfo.groups must be an arr"),
    (("request", "userInfo", "groups", 0), 1, "request.userInfo.groups[0] must be a string"),
    (("request", "userInfo", "extra"), [], "request.userInfo.extra must be an object, got array"),
    (("request", "userInfo", "extra", "authentication.kubernetes.io/credential-id"), "x",
     "request.userInfo.extra.authentication.kubernetes.io/credenti... must be an array"),
    (("request", "object"), [], "request.object must be an object or null, got array []"),
    (("request", "object"), "pod", "request.object must be an object or null, got string"),
    (("request", "oldObject"), 5, "request.oldObject must be an object or null, got number 5"),
    (("request", "options"), [1], "request.options must be an object or null, got array [1]"),
    (("request", "dryRun"), "false", "request.dryRun must be true, false or null, got string"),
]  # fmt: skip


def changed(review, path, value):
    doc = copy.deepcopy(review)
    *parents, last = path
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    return json.dumps(doc, ensure_ascii=False).encode()


@pytest.mark.parametrize(("path", "value", "words"), WRONG_TYPES, ids=lambda x: str(x)[:40])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_a_field_of_the_wrong_type_is_a_400_naming_it(seed_server, operation, path, value, words):
    review = json.loads(GOOD) if operation == "CREATE" else UPDATE
    client = seed_server.client()
    for endpoint in ("/validate", "/mutate"):
        answer = client.post(endpoint, changed(review, path, value))
        assert answer.status == 400, answer.body
        assert answer.json()["code"] == "invalid_review"
        assert words in answer.json()["message"]
    assert client.post("/validate", GOOD).json()["response"]["allowed"] is True


@pytest.mark.parametrize("endpoint", ["/validate", "/mutate"])
@pytest.mark.parametrize("field", ["object", "oldObject"])
def test_a_value_nested_a_thousand_levels_deep_is_a_400_naming_its_field(
    seed_server, endpoint, field
):
    doc = copy.deepcopy(UPDATE)
    doc["request"][field]["metadata"]["labels"] = "DEEP"
    deep = b"[" * 1000 + b"]" * 1000
    body = json.dumps(doc).encode().replace(b'"DEEP"', deep)
    answer = seed_server.client().post(endpoint, body)
    assert answer.status == 400, answer.body
    assert answer.json() == {
        "code": "invalid_review",
        "message": f"request.{field} is nested too deeply to be judged",
    }
    assert seed_server.client().post(endpoint, wire_bytes(recorded_review(
        "07-pod-update-label--02-validate-UPDATE"))).status == 200  # fmt: skip


@pytest.fixture(scope="module")
def mutating_server(tmp_path_factory, tls):
    from tests.helpers import write_bundle
    from tests.server.harness import start_server

    tmp = tmp_path_factory.mktemp("mutating")
    bundle = write_bundle(tmp / "b", {"m.py": MUTATION})
    with start_server(bundle, tmp, workers=2, tls=tls) as server:
        yield server


def test_a_mutation_of_an_object_too_deep_to_copy_is_a_400_not_a_500(mutating_server):
    """Nesting msgspec still decodes but a mutation's copy of the object cannot follow."""
    client = mutating_server.client()
    statuses = set()
    for depth in range(900, 1000, 4):
        doc = copy.deepcopy(UPDATE)
        doc["request"]["object"]["metadata"]["annotations"] = "DEEP"
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        answer = client.post("/mutate", json.dumps(doc).encode().replace(b'"DEEP"', nested))
        statuses.add(answer.status)
        assert answer.status in (200, 400), answer.body
        if answer.status == 400:
            assert "request.object is nested too deeply" in answer.json()["message"]
    assert 400 in statuses
    assert "unexpected error" not in mutating_server.stderr()


def test_a_number_beyond_64_bits_copied_into_a_patch_is_a_400_not_a_500(mutating_server):
    doc = copy.deepcopy(UPDATE)
    doc["request"]["object"]["metadata"]["labels"]["copy"] = "yes"
    doc["request"]["object"]["spec"]["containers"][0]["ports"] = [{"containerPort": "BIG"}]
    body = json.dumps(doc).encode().replace(b'"BIG"', b"123456789012345678901234567890")
    answer = mutating_server.client().post("/mutate", body)
    assert answer.status == 400, answer.body
    assert answer.json()["code"] == "invalid_patch"
    assert "Integer exceeds 64-bit range" in answer.json()["message"]
    assert "unexpected error" not in mutating_server.stderr()


MUTATION = """
import admit

@admit.mutate("Pod")
def label(pod):
    pod.labels["seen"] = "yes"

@admit.mutate("Pod")
def copy_containers(pod):
    if pod.labels.get("copy") == "yes":
        pod.spec["initContainers"] = [dict(c) for c in pod.spec["containers"]]
"""


def test_wrong_method_and_unknown_path(seed_server):
    client = seed_server.client()
    assert client.request("GET", "/validate").status == 405
    assert client.request("POST", "/nope", b"{}").json()["code"] == "not_found"
    assert client.post("/validate", GOOD).status == 200


def _tls_socket(server):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return server.tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_client_that_stalls_its_body_gets_408(seed_server):
    sock = _tls_socket(seed_server)
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 3000\r\n\r\n" + GOOD[:100])  # fmt: skip
    started = time.monotonic()
    answer = b""
    while chunk := sock.recv(65536):  # the server closes the connection after answering
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"request_timeout" in answer
    assert time.monotonic() - started < 5
    sock.close()
    assert seed_server.client().post("/validate", GOOD).status == 200


def test_a_declared_body_over_the_limit_gets_413_before_it_is_sent(seed_server):
    sock = _tls_socket(seed_server)
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000000\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    answer = b""
    while chunk := sock.recv(65536):  # the server closes the connection after answering
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"exceeds the 65536-byte limit" in answer
    assert time.monotonic() - started < 0.9  # sooner than the 1 s client timeout
    sock.close()
    assert seed_server.client().post("/validate", GOOD).status == 200


def test_a_client_that_never_finishes_its_headers_is_disconnected(seed_server):
    sock = _tls_socket(seed_server)
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    with contextlib.suppress(ConnectionResetError, ssl.SSLError):  # closed either way
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < 5
    sock.close()
    assert seed_server.client().post("/validate", GOOD).status == 200


def test_health_and_readiness(seed_server):
    client = seed_server.client()
    assert client.request("GET", "/healthz").json() == {"status": "ok"}
    ready = client.request("GET", "/readyz").json()
    assert ready["ready"] is True
    assert len(ready["bundle"]["digest"]) == 64
    assert ready["bundle"]["rules"] == 2


def test_oversized_headers_get_431_and_the_server_keeps_serving(seed_server):
    sock = _tls_socket(seed_server)
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    answer = b""
    with contextlib.suppress(ConnectionResetError, ssl.SSLError):
        while chunk := sock.recv(65536):
            answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431")
    assert seed_server.client().post("/validate", GOOD).status == 200
