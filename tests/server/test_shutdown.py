"""SIGTERM loses nothing: new connections are refused at once (never accepted by the kernel and
reset later), what was received is answered, and kept-alive connections get their last answer
with `Connection: close` instead of being cut while a request is on its way."""

import http.client
import json
import socket
import ssl
import threading
import time

from tests.helpers import SEED
from tests.server.harness import Client, start_server

GOOD = (SEED / "reviews" / "pod-ok.json").read_bytes()


def named(name):
    doc = json.loads(GOOD)
    doc["request"]["object"]["metadata"]["name"] = doc["request"]["name"] = name
    return json.dumps(doc).encode()


def draining_server(tmp_path, tls):
    """A server whose drain lasts ~2.5 s: a request whose body comes slowly is in flight when
    SIGTERM comes (a slow client, not a slow rule: the worker keeps serving others)."""
    server = start_server(SEED, tmp_path, workers=2, tls=tls)
    slow = []

    def send_slowly():
        body = named("slow")
        connection = http.client.HTTPSConnection(
            "127.0.0.1", server.port, context=tls.client_context(), timeout=15
        )
        connection.putrequest("POST", "/validate")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body[:100])
        time.sleep(2.5)
        connection.send(body[100:])
        slow.append(connection.getresponse().status)
        connection.close()

    thread = threading.Thread(target=send_slowly)
    thread.start()
    time.sleep(0.5)
    return server, thread, slow


def test_new_connections_after_sigterm_are_refused_never_accepted_and_reset(tmp_path, tls):
    server, thread, slow = draining_server(tmp_path, tls)
    outcomes = {"answered": 0, "refused": 0, "reset": []}
    server.process.send_signal(15)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        try:
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        except ConnectionRefusedError:
            outcomes["refused"] += 1
            time.sleep(0.01)
            continue
        try:
            with tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as secure:
                connection = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5)
                connection.sock = secure
                connection.request("POST", "/validate", body=named("web"),
                                   headers={"Content-Type": "application/json"})  # fmt: skip
                assert connection.getresponse().status == 200
                outcomes["answered"] += 1
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            outcomes["reset"].append(repr(exc))  # connected, then cut without an answer
    thread.join(10)
    assert server.process.wait(15) == 0
    assert outcomes["reset"] == [], outcomes
    assert outcomes["refused"] > 0
    assert slow == [200]  # what was received is answered


def test_kept_alive_clients_lose_no_request_around_sigterm(tmp_path, tls):
    server, thread, slow = draining_server(tmp_path, tls)
    results = []

    def keep_sending(index):
        sent = closed = 0
        with Client(server.port, tls) as client:
            while True:
                try:
                    answer = client.post("/validate", named(f"web-{index}"))
                except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                    results.append(("dropped", index, sent, repr(exc)))
                    return
                sent += 1
                assert answer.status == 200
                if answer.headers.get("connection") == "close":
                    closed = 1
                    break
                time.sleep(0.005)
        results.append(("closed" if closed else "?", index, sent, ""))

    clients = [threading.Thread(target=keep_sending, args=(i,)) for i in range(4)]
    for c in clients:
        c.start()
    time.sleep(0.5)
    server.process.send_signal(15)
    for c in clients:
        c.join(15)
    thread.join(10)
    assert server.process.wait(15) == 0
    assert sorted(r[0] for r in results) == ["closed"] * 4, results
    assert all(r[2] > 5 for r in results)
    assert slow == [200]


def test_every_decision_is_logged_when_sigterm_comes_right_after_it(tmp_path, tls):
    server = start_server(SEED, tmp_path, workers=2, tls=tls)
    with Client(server.port, tls) as first, Client(server.port, tls) as second:
        for i in range(20):
            assert (first if i % 2 else second).post("/validate", named(f"p{i}")).status == 200
    server.process.send_signal(15)  # within the log's 0.2 s flush interval
    assert server.process.wait(15) == 0
    logged = {json.loads(line)["name"] for line in server.decisions.read_text().splitlines()}
    assert logged == {f"p{i}" for i in range(20)}
    stopped = [line for line in server.stderr().splitlines() if "worker" in line and "stopped (" in line]
    assert len(stopped) == 2
    assert all(line.endswith("stopped (exit code 0)") for line in stopped), stopped  # not killed


def test_a_worker_asked_to_stop_while_it_starts_stops_cleanly(tmp_path):
    """SIGTERM while the workers still load the bundle: they start, then stop as on any
    SIGTERM (exit code 0), where they were killed by the signal's default action before."""
    import os
    import subprocess
    import sys

    from tests.helpers import write_bundle
    from tests.server.harness import ROOT, free_port, make_tls

    slow = "import time\nimport admit\ntime.sleep(1.5)\n\n@admit.validate('Pod')\ndef ok(request):\n    pass\n"
    bundle = write_bundle(tmp_path / "b", {"slow.py": slow})
    tls = make_tls(tmp_path)
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "admit", "serve", str(bundle), "--host", "127.0.0.1",
               "--port", str(free_port()), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
               "--workers", "2", "--decision-log", "off", "--metrics-dir", str(tmp_path / "m")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMIT_")}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("started (slot") < 2:  # forked, now importing the bundle
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        process.send_signal(15)
        assert process.wait(30) == 0
    finally:
        process.kill()
    stopped = [line for line in log.read_text().splitlines() if "worker" in line and "stopped (" in line]
    assert len(stopped) == 2
    assert all(line.endswith("stopped (exit code 0)") for line in stopped), log.read_text()
