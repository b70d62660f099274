"""The console of a real `admit serve` (two workers): a Secret judged by the webhook reaches the
console's stream redacted, and a page naming another host gets nothing."""

import http.client
import json
import time

import pytest

from tests.console.test_secrets import ENCODED, PASSWORD, secret_review
from tests.helpers import SEED
from tests.server.harness import free_port, make_tls, start_server


def console_get(port, path, host="127.0.0.1"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-server")
    tls = make_tls(tmp)
    port = free_port()
    args = ("--console-port", str(port), "--console-allowed-host", "admit.example.com")
    with start_server(SEED, tmp, *args, workers=2, tls=tls) as server:
        deadline = time.monotonic() + 20
        while True:
            try:
                if console_get(port, "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
        yield server, port


def test_a_secret_reaches_the_console_redacted(served):
    server, port = served
    review = secret_review()
    review["request"]["uid"] = "secret-through-the-console"
    assert server.client().post("/validate", json.dumps(review).encode()).status == 200
    deadline = time.monotonic() + 10
    while True:
        _, body = console_get(port, "/api/decisions")
        found = [d for d in json.loads(body)["decisions"] if d["uid"] == review["request"]["uid"]]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found, body
    status, detail = console_get(port, f"/api/decisions/{found[0]['id']}", "admit.example.com")
    assert status == 200
    assert PASSWORD.encode() not in detail
    assert ENCODED.encode() not in detail
    assert json.loads(detail)["request"]["object"]["data"] == {"password": "<redacted>"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:6060", "127.0.0.1.nip.io"])
def test_a_page_naming_another_host_gets_403(served, host):
    _, port = served
    for path in ("/", "/api/decisions", "/api/policies"):
        status, body = console_get(port, path, host)
        assert status == 403
        assert json.loads(body)["code"] == "forbidden_host"
    assert console_get(port, "/api/status", f"localhost:{port}")[0] == 200
