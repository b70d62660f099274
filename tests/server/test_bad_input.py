"""Bad input gets a clear 4xx with a JSON error, and the next good request is still answered."""

import contextlib
import json
import socket
import ssl
import time

import pytest

from tests.helpers import SEED

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()


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
