"""Policies from ConfigMaps with two workers (the default shape): every start gets every worker
ready, every change reaches every worker within a second of its publication, a start with
only a broken ConfigMap is not ready and denies, and nothing is left behind in the temporary
directory. The cluster is the local list/watch server that replays recorded kube-apiserver
answers (tests/kube/fake_apiserver.py)."""

import json
import time

import orjson

from tests.helpers import POD_OK_REVIEW as REVIEW
from tests.helpers import TAG_RULE
from tests.kube.fake_apiserver import FakeAPIServer, Script, recorded
from tests.server.harness import once, start_server

PATH = "/api/v1/namespaces/default/configmaps"
SELECTOR = "example.com/policy=true"


def base_configmap(files, version="1000"):
    """The recorded policy-base ConfigMap with other data."""
    listed = orjson.loads(
        recorded(
            "configmaps-default-labelselector.json", "configmaps-default-labelselector.jsonl"
        ).list_body
    )
    configmap = listed["items"][0]
    configmap["data"] = files
    configmap["metadata"]["resourceVersion"] = version
    return listed, configmap


def script_with(files, live=False):
    listed, configmap = base_configmap(files)
    listed["items"] = [configmap]
    return Script(orjson.dumps(listed), [], live=live)


def modified(files, version):
    _, configmap = base_configmap(files, version)
    return orjson.dumps({"type": "MODIFIED", "object": configmap}) + b"\n"


def serve(api, tmp_path, *args, **kwargs):
    return start_server(
        None,
        tmp_path,
        "--configmaps",
        SELECTOR,
        "--kubeconfig",
        str(api.kubeconfig(tmp_path)),
        *args,
        workers=2,
        **kwargs,
    )


def readyz(server):
    answer = once(server.port, server.tls, "GET", "/readyz")
    return answer.status, answer.json()


def until_ready(server, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        status, body = readyz(server)
        if status == 200:
            return body
        assert time.monotonic() < deadline, (body, server.stderr())
        time.sleep(0.05)


def test_twenty_starts_leave_no_worker_unready_and_nothing_behind(tmp_path, tls):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = script_with({"tags.py": TAG_RULE.format(tag=":latest")}, live=True)
    with FakeAPIServer({PATH: script}) as api:
        for start in range(20):
            server = serve(api, tmp_path, tls=tls, env={"TMPDIR": str(scratch)})
            try:
                body = until_ready(server)
                workers = body["workers"]
                assert len(workers) == 2, body
                assert {w["digest"] for w in workers} == {body["bundle"]["digest"]}, start
                assert {w["state"] for w in workers} == {"serving"}
            finally:
                assert server.stop() == 0
            assert list(scratch.iterdir()) == [], start


def test_fifty_changes_reach_every_worker_within_a_second_of_publication(tmp_path, tls):
    state = tmp_path / "state"
    script = script_with({"tags.py": TAG_RULE.format(tag=":latest")}, live=True)
    with FakeAPIServer({PATH: script}) as api:
        server = serve(api, tmp_path, "--state-dir", str(state), tls=tls)
        try:
            served = until_ready(server)["bundle"]["digest"]
            lags = []
            for change in range(50):
                tag = ":1.21.1" if change % 2 == 0 else ":latest"
                files = {"tags.py": TAG_RULE.format(tag=tag) + f"# change {change}\n"}
                script.push(modified(files, str(1001 + change)))
                deadline = time.monotonic() + 10
                while True:
                    published = json.loads((state / "current.json").read_bytes())
                    if published["digest"] != served:
                        break
                    assert time.monotonic() < deadline, server.stderr()
                    time.sleep(0.01)
                served = published["digest"]
                while {w["digest"] for w in readyz(server)[1]["workers"]} != {served}:
                    assert time.time() - published["published"] < 1.0, readyz(server)
                    time.sleep(0.01)
                lags.append(time.time() - published["published"])
                allowed = [
                    once(server.port, server.tls, "POST", "/validate", REVIEW).json()["response"][
                        "allowed"
                    ]
                    for _ in range(4)
                ]
                assert allowed == [tag == ":latest"] * 4, (change, allowed)
            assert max(lags) < 1.0
        finally:
            assert server.stop() == 0


def test_a_start_with_only_a_broken_configmap_is_not_ready_and_denies(tmp_path, tls):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = script_with({"broken.py": "import admit\n\ndef x(:\n"})
    with FakeAPIServer({PATH: script}) as api:
        server = serve(api, tmp_path, tls=tls, env={"TMPDIR": str(scratch)})
        try:
            deadline = time.monotonic() + 10
            while not (body := readyz(server)[1])["reload"].get("last_error"):
                assert time.monotonic() < deadline, server.stderr()
                time.sleep(0.05)
            status, body = readyz(server)
            assert status == 503
            assert body["ready"] is False
            assert body["reason"].startswith("no policy version has loaded yet")
            assert body["reload"]["last_error"]["problems"] == [
                "default/policy-base: broken.py:3: syntax_error: invalid syntax"
            ]
            answer = once(server.port, server.tls, "POST", "/validate", REVIEW).json()
            assert answer["response"]["allowed"] is False
            assert answer["response"]["status"]["message"].startswith(
                "admit has no policy version loaded"
            )
        finally:
            assert server.stop() == 0
    assert list(scratch.iterdir()) == []


def test_with_a_state_dir_a_broken_start_serves_the_last_good_version(tmp_path, tls):
    state = tmp_path / "state"
    good = script_with({"tags.py": TAG_RULE.format(tag=":1.21.1")})
    with FakeAPIServer({PATH: good}) as api:
        server = serve(api, tmp_path, "--state-dir", str(state), tls=tls)
        try:
            digest = until_ready(server)["bundle"]["digest"]
        finally:
            assert server.stop() == 0
    broken = script_with({"broken.py": "import admit\n\ndef x(:\n"})
    with FakeAPIServer({PATH: broken}) as api:
        server = serve(api, tmp_path, "--state-dir", str(state), tls=tls)
        try:
            body = until_ready(server)
            assert body["bundle"] == {
                "digest": digest,
                "source": f"configmaps {SELECTOR} in default",
                "rules": 1,
                "restored": True,
                "revision": "",
                "bundles": {"default/policy-base": {"revision": ""}},
            }
            answer = once(server.port, server.tls, "POST", "/validate", REVIEW).json()
            assert answer["response"]["status"]["message"] == (
                "192.168.64.1:5000/nginx:1.21.1 uses :1.21.1"
            )
        finally:
            assert server.stop() == 0
