"""Rules and bundles that misbehave cannot take the webhook down: a rule that ends its worker is
quarantined and the server keeps replacing workers; sys.exit() in a rule is a rule error; a
forked process never serves; a closed stdout never sends the log to a client; a bundle that
exits or loops at import is a failed load, and the last good version keeps serving."""

import http.client
import json
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.configmap import ConfigMapVolume
from tests.helpers import SEED, write_bundle
from tests.server.harness import once, start_server

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()

MISBEHAVING = """
import os
import sys

import admit

@admit.validate("Pod")
def calls_sys_exit(request):
    if request.name == "sysexit":
        sys.exit(2)

@admit.validate("Pod")
def forks(request):
    if request.name == "fork":
        os.fork()

@admit.validate("Pod")
def closes_stdout_and_stderr(request):
    if request.name == "close-std":
        os.close(1)
        os.close(2)
"""

ENDS_ITS_WORKER = """
import os

import admit

@admit.validate("Pod")
def ends_its_worker(request, *, victim: str = "{victim}"):
    if request.name == victim:
        os._exit(7)
"""


def named(name):
    doc = json.loads(GOOD)
    doc["request"]["object"]["metadata"]["name"] = name
    doc["request"]["name"] = name
    return json.dumps(doc).encode()


def decide(server, name):
    """The response to a review of the pod `name`, on a fresh connection."""
    answer = once(server.port, server.tls, "POST", "/validate", named(name))
    assert answer.status == 200, answer.body
    return answer.json()["response"]


def lost(server, name):
    """Send a review whose rule ends the worker: the connection is lost, no answer comes."""
    try:
        once(server.port, server.tls, "POST", "/validate", named(name))
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return True
    return False


def readyz(server):
    return once(server.port, server.tls, "GET", "/readyz").json()


def children_of(pid):
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(stat.parent.name), fields[0]))
    return found


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("misbehaving")
    bundle = write_bundle(tmp / "bundle", {"rules.py": MISBEHAVING})
    server = start_server(bundle, tmp, "--decision-log", "-", workers=2, tls=tls)
    yield server
    server.stop()


def test_sys_exit_in_a_rule_is_a_rule_error_answered_by_its_on_error(misbehaving):
    answer = decide(misbehaving, "sysexit")
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "rule rules/calls_sys_exit failed: SystemExit: 2"
    assert decide(misbehaving, "web")["allowed"] is True


def test_a_process_forked_by_a_rule_never_serves_and_is_reaped(misbehaving):
    for _ in range(4):
        assert decide(misbehaving, "fork")["allowed"] is True
    # a forked child holding the listening socket would accept some of these and drop them
    answers = [decide(misbehaving, f"web-{i}")["allowed"] for i in range(40)]
    assert answers == [True] * 40
    time.sleep(0.6)  # the workers reap on their heartbeat
    workers = [pid for pid in misbehaving.worker_pids() if Path(f"/proc/{pid}").exists()]
    assert workers
    assert [child for pid in workers for child in children_of(pid)] == []


def test_a_rule_that_closes_stdout_cannot_send_the_log_to_a_client(misbehaving):
    log_size = misbehaving.log.stat().st_size
    assert decide(misbehaving, "close-std")["allowed"] is True
    # New sockets now get the lowest free descriptors, 1 and 2 among them.
    listeners = [socket.create_connection(("127.0.0.1", misbehaving.port)) for _ in range(16)]
    try:
        for i in range(20):
            assert decide(misbehaving, f"after-{i}")["allowed"] is True
        time.sleep(0.5)  # the decision log flushes every 0.2s
        for raw in listeners:
            raw.settimeout(0.2)
            try:
                received = raw.recv(65536)
            except TimeoutError:
                received = b""
            assert b'"uid"' not in received
            assert b"admit" not in received
    finally:
        for raw in listeners:
            raw.close()
    lines = misbehaving.log.read_bytes()[log_size:].splitlines()
    logged = [json.loads(line) for line in lines if line.startswith(b'{"decision_id"')]
    assert {"after-0", "after-19"} <= {entry["name"] for entry in logged}


def test_a_rule_that_ends_its_worker_is_quarantined_and_the_server_never_stops(tmp_path, tls):
    volume = ConfigMapVolume(tmp_path / "bundle")
    volume.publish({"crash.py": ENDS_ITS_WORKER.format(victim="exit")})
    server = start_server(volume.root, tmp_path, workers=2, tls=tls)
    try:
        assert lost(server, "exit")
        assert decide(server, "good")["allowed"] is True  # another worker answers meanwhile
        assert lost(server, "exit")
        deadline = time.monotonic() + 5
        while not readyz(server)["supervisor"]["quarantine"]["rules"]:
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.05)
        # Now quarantined: every request the rule matches gets its on_error (deny), none is
        # lost, and the server lives on.
        quarantined = (
            "rule crash/ends_its_worker failed: RuleQuarantined: not run: this rule ended its "
            "worker process 2 times with this bundle version"
        )
        for name in ("exit", "good", "exit", "exit"):
            answer = decide(server, name)
            assert answer["allowed"] is False
            assert answer["status"]["message"].startswith(quarantined)
        assert server.process.poll() is None
        assert server.wait_for_log("rule crash/ends_its_worker ended its worker 2 times")
        ready = readyz(server)
        assert ready["ready"] is True
        assert ready["supervisor"]["quarantine"]["rules"] == {"crash/ends_its_worker": 2}
        exits = [e for e in ready["supervisor"]["recent_exits"] if e["role"] == "worker"]
        assert [(e["reason"], e.get("rule"), e["serving"]) for e in exits] == [
            ("exit code 7", "crash/ends_its_worker", True)
        ] * 2
        metrics = once(server.port, server.tls, "GET", "/metrics").body.decode()
        assert 'admit_process_exits_total{reason="exit code 7",role="worker"} 2.0' in metrics
        assert 'admit_rule_quarantined{rule="crash/ends_its_worker"} 2.0' in metrics

        # A new version lifts the quarantine: the rule runs again (and now spares "exit").
        volume.publish({"crash.py": ENDS_ITS_WORKER.format(victim="someone-else")})
        deadline = time.monotonic() + 10
        while not decide(server, "exit")["allowed"]:
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("module", "problem"),
    [
        ("import os\nos._exit(3)\n", "bad.py: load_failed: the loading process exited"),
        ("import sys\nsys.exit(0)\n", "bad.py:2: import_error: SystemExit: 0"),
        ("while True:\n    pass\n", "bad.py: load_failed: the bundle did not finish loading"),
    ],
    ids=["os._exit", "sys.exit", "loop"],
)
def test_a_module_that_ends_or_jams_its_process_at_import_never_reaches_the_server(
    tmp_path, tls, module, problem
):
    volume = ConfigMapVolume(tmp_path / "bundle")
    tags = (SEED / "trusted_images.py").read_text()
    volume.publish({"tags.py": tags})
    server = start_server(volume.root, tmp_path, "--load-timeout", "2", workers=2, tls=tls)
    try:
        assert decide(server, "web")["allowed"] is True
        volume.publish({"tags.py": tags, "bad.py": module})
        deadline = time.monotonic() + 10
        while not (error := readyz(server)["reload"]["last_error"]):
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
        assert error["problems"][0].startswith(problem)
        for i in range(10):
            assert decide(server, f"web-{i}")["allowed"] is True
        ready = readyz(server)
        assert ready["ready"] is True
        assert ready["bundle"]["digest"] != error["digest"]
        assert ready["supervisor"]["exits"] == {}
        started = time.monotonic()
    finally:
        code = server.stop()
    assert code == 0
    assert time.monotonic() - started < 5
