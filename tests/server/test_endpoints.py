"""Metrics across workers, the decision log, and the codec (OPA's decision API: test_opa_api)."""

import base64
import json
import time

from admit.core.decision import Decision
from admit.core.outcome import RuleResult
from admit.server.admission import annotation_key, response_for
from tests.helpers import SEED
from tests.server.harness import once


def _counts(text):
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith(("admit_requests_total{", "admit_rule_results_total{"))
    }


def test_metrics_sum_every_worker(seed_server):
    denied = 'admit_requests_total{endpoint="/validate",result="denied"}'
    before = _counts(seed_server.client().request("GET", "/metrics").body.decode()).get(denied, 0)
    for _ in range(6):  # fresh connections: both workers answer some
        once(
            seed_server.port,
            seed_server.tls,
            "POST",
            "/validate",
            (SEED / "reviews" / "pod-bad-tag.json").read_bytes(),
        )
    deadline = time.monotonic() + 5  # each worker publishes its numbers every second
    while True:
        text = seed_server.client().request("GET", "/metrics").body.decode()
        counts = _counts(text)
        if counts.get(denied, 0) >= before + 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counts[denied] >= before + 6
    key = (
        'admit_rule_results_total{policy="trusted-images",result="fail",rule="disallow_latest_tag"}'
    )
    assert counts[key] >= 6
    assert (
        'admit_request_duration_seconds_bucket{endpoint="/validate",le="+Inf",result="denied"}'
        in text
    )
    assert "admit_rule_duration_seconds_bucket" in text
    assert "admit_bundle_info{digest=" in text


def test_the_decision_log_has_one_json_line_per_decision(seed_server):
    body = json.loads((SEED / "reviews" / "pod-bad-repo.json").read_text())
    body["request"]["uid"] = "log-test-uid"
    seed_server.client().post("/validate", body)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in seed_server.decisions.read_text().splitlines() if x]
        found = [x for x in lines if x["uid"] == "log-test-uid"]
        if found:
            break
        time.sleep(0.1)
    [entry] = found
    assert entry["allowed"] is False
    assert (entry["operation"], entry["kind"], entry["namespace"], entry["name"]) == (
        "CREATE",
        "v1/Pod",
        "default",
        "web-server",
    )
    assert entry["user"] == "kubernetes-admin"
    assert entry["results"][0]["messages"] == ["nginx:1.21.1 repo not start with 192.168.64.1"]
    assert entry["metrics"]["timer_server_handler_ns"] > 0
    assert "input" not in entry  # opt-in (--decision-log-input): it costs the most to write
    assert entry["result"]["response"]["allowed"] is False


def test_warnings_and_audit_annotations_in_the_answer():
    decision = Decision(
        allowed=True,
        results=(RuleResult("p", "r", "fail", "audit"),),
        warnings=("pin your images",),
        audits=(("team-a.images/latest_tag", "uses :latest"),),
    )
    response = response_for("u1", decision, mutating=False)
    assert response == {
        "uid": "u1",
        "allowed": True,
        "warnings": ["pin your images"],
        "auditAnnotations": {"team-a.images.latest_tag": "uses :latest"},
    }


def test_a_denied_mutation_carries_no_patch():
    decision = Decision(
        allowed=False, denials=("no",), patch=({"op": "add", "path": "/a", "value": 1},)
    )
    response = response_for("u", decision, mutating=True)
    assert "patch" not in response
    allowed = Decision(allowed=True, patch=({"op": "add", "path": "/a", "value": 1},))
    patched = response_for("u", allowed, mutating=True)
    assert json.loads(base64.b64decode(patched["patch"])) == [
        {"op": "add", "path": "/a", "value": 1}
    ]


def test_annotation_keys_are_valid_qualified_names():
    assert annotation_key("pss.baseline/host_namespaces") == "pss.baseline.host_namespaces"
    assert len(annotation_key("x" * 100)) == 63
