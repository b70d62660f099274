"""Rules that hang, workers that die or get stuck, SIGTERM drains, certificates that rotate."""

import http.client
import os
import signal
import socket
import ssl
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from admit.kube.certs import fingerprint, make_ca, make_serving_cert, write_pair
from tests.configmap import ConfigMapVolume
from tests.helpers import SEED, write_bundle
from tests.server.harness import TLS, Client, once, start_server

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()

LOOPING = """
import admit

@admit.validate("Pod")
def spins_forever(request):
    while True:
        pass

@admit.validate("Pod", on_error="allow")
def spins_but_fails_open(request):
    if request.name == "open":
        while True:
            pass

@admit.validate("Pod")
def sleeps(request):
    if request.name == "slow":
        import time
        time.sleep(1.5)

@admit.validate("Pod")
def stuck_where_no_signal_reaches(request):
    if request.name == "stuck":  # minutes inside one C call: no signal handler runs meanwhile
        import hashlib
        hashlib.pbkdf2_hmac("sha256", b"x", b"y", 10**9)
"""


def named(name):
    import json

    doc = json.loads(GOOD)
    doc["request"]["object"]["metadata"]["name"] = name
    doc["request"]["name"] = name
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def looping(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("looping")
    bundle = write_bundle(tmp / "bundle", {"loops.py": LOOPING})
    server = start_server(bundle, tmp, "--rule-timeout", "0.5", workers=2, tls=tls)
    yield server
    server.stop()


def test_a_rule_in_an_infinite_loop_is_cut_off_and_the_request_answered(looping):
    client = looping.client()
    started = time.monotonic()
    answer = client.post("/validate", named("web")).json()["response"]
    assert time.monotonic() - started < 1.5
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        "rule loops/spins_forever failed: RuleTimeout: exceeded the 0.5s rule timeout"
    )


def test_a_looping_rule_does_not_stop_other_requests(looping):
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(once, looping.port, looping.tls, "POST", "/validate", named(f"p{i}"))
            for i in range(8)
        ]
        answers = [f.result(timeout=20) for f in futures]
    assert all(a.status == 200 for a in answers)
    assert looping.client().request("GET", "/healthz").status == 200


def test_a_rule_stuck_outside_python_gets_its_worker_replaced(looping):
    """The stuck request's connection is lost; the other worker answers meanwhile, and the
    supervisor replaces the stuck one."""
    failure = []

    def send_stuck():
        try:
            once(looping.port, looping.tls, "POST", "/validate", named("stuck"))
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            failure.append(exc)

    thread = threading.Thread(target=send_stuck)
    thread.start()
    time.sleep(0.5)
    answered = 0
    deadline = time.monotonic() + 12
    while thread.is_alive() and time.monotonic() < deadline:
        if once(looping.port, looping.tls, "GET", "/healthz").status == 200:
            answered += 1
        time.sleep(0.2)
    thread.join(timeout=1)
    assert failure, "the stuck request should have lost its connection"
    assert answered > 5
    assert looping.wait_for_log("has not responded for")
    assert looping.wait_for_log("starting another")


def test_sigterm_drains_in_flight_requests(tmp_path, tls):
    bundle = write_bundle(tmp_path / "bundle", {"loops.py": LOOPING})
    server = start_server(bundle, tmp_path, "--rule-timeout", "5", tls=tls)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(once, server.port, server.tls, "POST", "/validate", named("slow"))
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        answer = slow.result(timeout=10)
    assert answer.status == 200
    assert server.process.wait(10) == 0


def test_a_killed_worker_is_restarted(tmp_path, tls):
    server = start_server(SEED, tmp_path, tls=tls)
    try:
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        assert server.wait_for_log("starting another")
        time.sleep(0.5)
        assert once(server.port, server.tls, "POST", "/validate", GOOD).status == 200
    finally:
        server.stop()


def test_rotated_certificates_are_served_without_restart_or_failed_handshake(tmp_path):
    ca = make_ca()
    ca_path, _ = write_pair(ca, tmp_path, "ca")
    mount = ConfigMapVolume(tmp_path / "secret")  # Secret volumes are laid out the same way
    first = make_serving_cert(ca, ["127.0.0.1"])
    mount.publish({"tls.crt": first.cert_pem.decode(), "tls.key": first.key_pem.decode()})
    tls = TLS(ca_path, mount.root / "tls.crt", mount.root / "tls.key")
    server = start_server(SEED, tmp_path, tls=tls)
    failures, seen = [], set()
    stop = threading.Event()

    def handshake_loop():
        while not stop.is_set():
            try:
                with Client(server.port, tls) as c:
                    c.request("GET", "/healthz")
                    der = c.connection.sock.getpeercert(binary_form=True)
                seen.add(fingerprint(ssl.DER_cert_to_PEM_cert(der).encode()))
            except Exception as exc:  # any failed handshake fails the test
                failures.append(exc)

    try:
        thread = threading.Thread(target=handshake_loop)
        thread.start()
        time.sleep(0.5)
        second = make_serving_cert(ca, ["127.0.0.1"])
        mount.publish({"tls.crt": second.cert_pem.decode(), "tls.key": second.key_pem.decode()})
        deadline = time.monotonic() + 5
        while fingerprint(second.cert_pem) not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        thread.join()
    finally:
        server.stop()
    assert failures == []
    assert fingerprint(first.cert_pem) in seen
    assert fingerprint(second.cert_pem) in seen


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _request_then_reset(server) -> None:
    """One request on a fresh TLS connection, then a TCP reset instead of a clean close."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock = server.tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(GOOD), GOOD))  # fmt: skip
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_connections_reset_by_clients_release_their_memory(tmp_path, tls):
    # uvicorn leaves its keep-alive timer (--keepalive-timeout, 120 s) holding a reset
    # connection and its TLS state, ~50 KB each: 400 resets grew a worker by ~20 MB.
    server = start_server(SEED, tmp_path, tls=tls)
    try:
        worker = server.worker_pids()[0]
        for _ in range(100):  # warm-up: the allocator's working set
            _request_then_reset(server)
        before = _rss_kib(worker)
        for _ in range(400):
            _request_then_reset(server)
        grown_mib = (_rss_kib(worker) - before) / 1024
        assert grown_mib < 6, f"the worker grew {grown_mib:.1f} MiB over 400 reset connections"
        assert once(server.port, server.tls, "POST", "/validate", GOOD).status == 200
    finally:
        server.stop()
