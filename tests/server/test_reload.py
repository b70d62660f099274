"""Hot reload in the running server: a swapped ConfigMap volume goes live in every worker within
a second; a broken one keeps the previous decisions and /readyz names the broken file; swaps
under load fail no request."""

import json
import threading
import time

from tests.configmap import ConfigMapVolume
from tests.helpers import POD_OK_REVIEW as REVIEW
from tests.helpers import TAG_RULE
from tests.server.harness import Client, once, start_server


def allowed(server):
    return once(server.port, server.tls, "POST", "/validate", REVIEW).json()["response"]["allowed"]


def serving(server):
    """The bundle digests the live workers serve, from admit_bundle_info."""
    text = once(server.port, server.tls, "GET", "/metrics").body.decode()
    return {
        line.split('"')[1] for line in text.splitlines() if line.startswith("admit_bundle_info{")
    }


def test_a_swap_goes_live_in_every_worker_and_a_broken_one_never_does(tmp_path, tls):
    volume = ConfigMapVolume(tmp_path / "bundle")
    volume.publish({"tags.py": TAG_RULE.format(tag=":latest")})
    server = start_server(volume.root, tmp_path, workers=2, tls=tls)
    try:
        assert allowed(server) is True
        time.sleep(1.2)
        serving_before = serving(server)
        volume.publish({"tags.py": TAG_RULE.format(tag=":1.21.1")})
        swapped = time.monotonic()
        while allowed(server):
            assert time.monotonic() - swapped < 1.5
        # every live worker reports the bundle it serves in /metrics (published each second)
        new = set()
        while len(new) != 1 or new == serving_before:
            assert time.monotonic() - swapped < 5, new
            time.sleep(0.1)
            new = serving(server)
        assert not any(allowed(server) for _ in range(6))

        volume.publish({"tags.py": "import admit\n\n@admit.validate('Pod')\ndef x(:\n"})
        deadline = time.monotonic() + 5
        while True:
            ready = once(server.port, server.tls, "GET", "/readyz")
            if ready.json()["reload"]["last_error"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ready.status == 200
        assert ready.json()["reload"]["last_error"]["problems"] == [
            "tags.py:4: syntax_error: invalid syntax"
        ]
        assert not any(allowed(server) for _ in range(6))  # the previous rules still decide
        metrics = once(server.port, server.tls, "GET", "/metrics").body.decode()
        assert 'admit_bundle_reloads_total{result="error"}' in metrics
        assert server.wait_for_log("bundle reload failed; the previous policies keep serving")
    finally:
        server.stop()


def test_fifty_swaps_under_load_fail_no_request(tmp_path, tls):
    volume = ConfigMapVolume(tmp_path / "bundle")
    volume.publish({"tags.py": TAG_RULE.format(tag=":latest")})
    server = start_server(volume.root, tmp_path, workers=2, tls=tls)
    stop = threading.Event()
    outcomes = []
    failures = []

    def load():
        with Client(server.port, server.tls) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/validate", REVIEW)
                    outcomes.append(answer.status == 200 and "response" in json.loads(answer.body))
                except Exception as exc:
                    failures.append(repr(exc))
                    return

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for i in range(50):
            tag = ":latest" if i % 2 else ":1.21.1"
            volume.publish({"tags.py": TAG_RULE.format(tag=tag) + f"\n# version {i}\n"})
            time.sleep(0.05)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
    assert failures == []
    assert len(outcomes) > 200
    assert all(outcomes)
