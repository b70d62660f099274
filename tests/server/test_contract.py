"""The webhook against the AdmissionReviews a real kube-apiserver v1.36.2 sent, byte for byte,
asserting what kube-apiserver requires of each answer."""

import base64
import json

import pytest

from tests.core.test_recorded_traffic import expected_denials
from tests.helpers import ORIGIN_PODS, SEED, recorded, recorded_review, wire_bytes, write_bundle
from tests.server.harness import start_server

ENDPOINT = {"/validate": "/validate", "/validate-v1beta1": "/validate", "/mutate": "/mutate"}


def replay(client, record):
    path, _, query = record["http"]["path"].partition("?")
    target = ENDPOINT[path] + (f"?{query}" if query else "")
    headers = dict(record["http"]["headers"])
    return client.request("POST", target, wire_bytes(record), headers)


def test_every_recorded_call_gets_a_valid_answer_on_one_kept_alive_connection(seed_server):
    client = seed_server.client()
    for record in recorded():
        request = record["body"]["request"]
        answer = replay(client, record)
        assert answer.status == 200, answer.body
        assert answer.headers["content-type"] == "application/json"
        review = answer.json()
        assert review["apiVersion"] == record["body"]["apiVersion"]
        assert review["kind"] == "AdmissionReview"
        response = review["response"]
        assert response["uid"] == request["uid"]
        denials = expected_denials(request)
        if record["http"]["path"].startswith("/mutate"):
            assert response["allowed"] is True  # the seed has no mutations
            assert "patch" not in response
            continue
        assert response["allowed"] is not denials
        if denials:
            assert response["status"]["code"] == 403
            assert set(response["status"]["message"].split("\n")) == denials
        else:
            assert "status" not in response


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
@pytest.mark.parametrize(("pod", "message"), ORIGIN_PODS.items())
def test_the_origin_pods_are_judged_over_verified_tls(seed_server, version, pod, message):
    step = {"pod-bad-repo.yaml": "02-", "pod-bad-tag.yaml": "04-", "pod-ok.yaml": "06-"}[pod]
    suffix = "--03-validate-v1beta1-CREATE" if version == "v1beta1" else "--02-validate-CREATE"
    record = recorded_review(f"{step}pod-create-web-server-*{suffix}")
    answer = replay(seed_server.client(), record).json()
    assert answer["apiVersion"] == f"admission.k8s.io/{version}"
    response = answer["response"]
    assert response["uid"] == record["body"]["request"]["uid"]
    if message is None:
        assert response == {"uid": response["uid"], "allowed": True}
    else:
        assert response["allowed"] is False
        assert response["status"] == {"code": 403, "reason": "Forbidden", "message": message}


def test_kubectl_debug_with_a_latest_image_is_denied_through_the_webhook(seed_server):
    """Step 39, as kube-apiserver sent it: UPDATE pods/ephemeralcontainers adding busybox:latest."""
    record = recorded_review("39-pod-ephemeralcontainers-debug--01-validate-UPDATE")
    response = replay(seed_server.client(), record).json()["response"]
    assert response["allowed"] is False
    assert response["status"] == {
        "code": 403,
        "reason": "Forbidden",
        "message": "busybox:latest repo not start with 192.168.64.1\nbusybox:latest tag end with :latest",
    }


def test_what_kubectl_prints_for_the_denial(seed_server):
    """kubectl shows `admission webhook "<name>" denied the request: <status.message>`."""
    record = recorded_review("28-deny-kubectl-apply-pod-registry-latest--02-validate-CREATE")
    status = replay(seed_server.client(), record).json()["response"]["status"]
    recorded_stderr = (
        SEED.parent.parent
        / "tests/fixtures/apiserver/deny/kubectl-apply-reason-forbidden.stderr.txt"
    ).read_text()
    assert recorded_stderr.rstrip().endswith(f"denied the request: {status['message']}")


def test_the_server_offers_only_http11_so_kube_apiserver_does_not_switch_to_h2(seed_server):
    client = seed_server.client(alpn=["h2", "http/1.1"])  # kube-apiserver's ALPN offer
    assert client.request("GET", "/healthz").status == 200
    assert client.connection.sock.selected_alpn_protocol() == "http/1.1"
    assert client.connection.sock.version() in ("TLSv1.2", "TLSv1.3")


def answer_with_bundle(tmp_path, tls, files, review):
    """The response of a server running a bundle of `files` to the recorded `review`."""
    with start_server(write_bundle(tmp_path / "b", files), tmp_path, tls=tls) as server:
        return replay(server.client(), recorded_review(review)).json()["response"]


def test_a_mutation_answers_a_base64_json_patch(tmp_path, tls):
    response = answer_with_bundle(tmp_path, tls, {"label.py": (
        "import admit\n@admit.mutate('Pod')\ndef add_label(pod):\n"
        "    pod.labels['example.com/mutated'] = 'true'\n"
    )}, "32-mutate-pod-create-add-label--01-mutate-CREATE")  # fmt: skip
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/metadata/labels/example.com~1mutated", "value": "true"}
    ]


def test_a_rule_reads_the_old_object_of_a_recorded_update(tmp_path, tls):
    response = answer_with_bundle(tmp_path, tls, {"frozen.py": (
        "import admit\n@admit.validate('Pod', operations=['UPDATE'])\n"
        "def labels_frozen(request):\n"
        "    old, new = request.old_object.metadata.labels, request.object.metadata.labels\n"
        "    if old != new:\n"
        "        yield admit.Violation(f'labels {dict(old.raw)} became {dict(new.raw)}')\n"
    )}, "07-pod-update-label--02-validate-UPDATE")  # fmt: skip
    assert response["allowed"] is False
    assert (
        "labels {'run': 'web-server'} became {'run': 'web-server', 'tier': 'frontend'}"
        in response["status"]["message"]
    )
