"""Exceptions in a served bundle (two workers): an excepted request is allowed and recorded as
excepted in the answer's audit annotations, the decision log and the metrics; /readyz lists the
exceptions expiring within 7 days and those expired."""

import json
import time

import pytest

from tests.helpers import SEED, recorded_review, wire_bytes, write_bundle
from tests.server.harness import start_server

EXCEPTIONS = """\
exceptions:
- name: web-latest
  owner: team-web
  reason: web moves off :latest next sprint
  expires: {soon}
  policies: [trusted-images/disallow_latest_tag]
  match: {{kinds: [apps/Deployment], names: [web]}}
- name: gone
  owner: team-db
  reason: the database migration ended
  expires: 2021-03-01
  policies: [trusted-images]
- name: long-term
  owner: platform
  reason: a vendor image
  expires: 2999-01-01
  policies: [trusted-images/trusted_registry]
  match: {{namespaces: [vendor]}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("excepted")
    soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
    bundle = write_bundle(tmp / "bundle", {
        "trusted_images.py": (SEED / "trusted_images.py").read_text(),
        "exceptions.yaml": EXCEPTIONS.format(soon=soon),
    })  # fmt: skip
    with start_server(bundle, tmp, workers=2, tls=tls) as server:
        yield server, soon


def test_an_excepted_request_is_allowed_and_recorded_as_excepted(served):
    server, soon = served
    record = recorded_review("11-deployment-create-web--01-validate-CREATE-deployment-web")
    response = server.client().post("/validate", wire_bytes(record)).json()["response"]
    assert response["allowed"] is True
    assert response["auditAnnotations"] == {
        "trusted-images.disallow_latest_tag": f"excepted by web-latest, owner team-web, expires "
        f"{soon}: 192.168.64.1:5000/nginx:latest tag end with :latest"
    }
    assert "warnings" not in response
    deadline = time.monotonic() + 5
    while not server.decisions.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = json.loads(server.decisions.read_text().splitlines()[-1])
    [entry] = [r for r in line["results"] if r["rule"] == "disallow_latest_tag"]
    assert entry["result"] == "excepted"
    assert entry["exception"] == f"excepted by web-latest, owner team-web, expires {soon}"
    metrics = ""
    while 'result="excepted"' not in metrics and time.monotonic() < deadline + 5:
        metrics = server.client().request("GET", "/metrics").body.decode()
        time.sleep(0.2)
    assert (
        'admit_rule_results_total{policy="trusted-images",result="excepted",'
        'rule="disallow_latest_tag"} 1.0'
    ) in metrics


def test_readyz_lists_the_exceptions_expiring_within_7_days_and_those_expired(served):
    server, soon = served
    body = server.client().request("GET", "/readyz").json()
    assert body["ready"] is True
    due = body["exceptions"]
    assert [(e["name"], e["owner"], e["expires"]) for e in due["expiring_within_7_days"]] == [
        ("web-latest", "team-web", soon)
    ]
    assert [(e["name"], e["expired"]) for e in due["expired"]] == [("gone", True)]
