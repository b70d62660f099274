"""The decision log in OPA's event format: one JSON line per admission and per data decision,
valid against the schema kept in docs/, Secrets redacted, masks as OPA's `system.log.mask`, a
size cap per event; and shipping to an HTTP service as OPA's decision log plugin does, across
a receiver restart, counting what it drops when the receiver stays down."""

import base64
import json
import time

import jsonschema
import pytest

from admit.server.masking import apply_masks
from tests.console.test_secrets import ENCODED, PASSWORD, secret_review
from tests.helpers import ROOT, SEED, recorded_review, wire_bytes, write_bundle
from tests.server.harness import free_port, start_server
from tests.server.local_http import LogReceiver

SCHEMA = json.loads((ROOT / "docs" / "decision-log.schema.json").read_text())
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

RULES = """
import admit

@admit.decision("httpapi/authz/allow")
def allow(input):
    return input.method == "GET"

@admit.decision("system/log/mask")
def mask(event):
    \"\"\"OPA's masking policy: the event is the input.\"\"\"
    if event.path == "httpapi/authz/allow" and event.input.password:
        yield {"op": "upsert", "path": "/input/password", "value": "**REDACTED**"}

@admit.mutate("Secret")
def label_secrets(obj):
    obj.setdefault("metadata", {}).setdefault("labels", {})["checked"] = "true"
    obj["data"]["added"] = "c2VjcmV0"
"""


def lines_of(server, count, timeout=10.0):
    """The server's decision-log lines, once there are `count` (the log flushes every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.decisions.read_text() if server.decisions.exists() else ""
        lines = [json.loads(x) for x in text.splitlines() if x]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def line_where(server, key, value, timeout=10.0):
    """The one decision-log line whose `key` is `value`, once it is written."""
    deadline = time.monotonic() + timeout
    while not (found := [x for x in lines_of(server, 0, timeout=0) if x.get(key) == value]):
        assert time.monotonic() < deadline, f"no line with {key}={value}"
        time.sleep(0.1)
    [line] = found
    return line


@pytest.fixture(scope="module")
def logged(tmp_path_factory, tls):
    tmp = tmp_path_factory.mktemp("logged")
    bundle = write_bundle(tmp / "b", {"rules.py": RULES, "trusted_images.py": (SEED / "trusted_images.py").read_text()})  # fmt: skip
    server = start_server(
        bundle, tmp, "--decision-log-input", "--decision-log-mask", "/input/token",
        "--decision-log-max-event", "65536",
        "--label", "team=platform", workers=2, tls=tls,
    )  # fmt: skip
    yield server
    server.stop()


def test_one_line_per_admission_and_data_decision_each_valid_against_the_schema(logged):
    calls = [
        ("/mutate", "02-pod-create-web-server-nginx-1.21.1--01-mutate-CREATE"),
        ("/validate", "02-pod-create-web-server-nginx-1.21.1--02-validate-CREATE"),
        ("/validate", "02-pod-create-web-server-nginx-1.21.1--03-validate-v1beta1-CREATE"),
        ("/validate", "07-pod-update-label--02-validate-UPDATE"),
        ("/validate", "03-pod-delete-web-server--01-validate-DELETE"),
    ]
    reviews = [recorded_review(name) for _, name in calls]
    before = len(lines_of(logged, 0, timeout=0))
    client = logged.client()
    for (endpoint, _), record in zip(calls, reviews, strict=True):
        assert client.request("POST", endpoint, wire_bytes(record)).status == 200
    ids = []
    for method in ("GET", "POST", "PUT"):
        answer = client.post("/v1/data/httpapi/authz/allow", {"input": {"method": method}})
        ids.append(answer.json()["decision_id"])
    undefined = client.post("/v1/data/nothing/here", {"input": {}}).json()["decision_id"]
    lines = lines_of(logged, before + len(reviews) + 4)[before:]
    assert len(lines) == len(reviews) + 4
    for line in lines:
        jsonschema.validate(line, SCHEMA)
    admissions = [x for x in lines if x["path"].startswith("admission/")]
    assert sorted(x["uid"] for x in admissions) == sorted(r["body"]["request"]["uid"] for r in reviews)
    data = {x["decision_id"]: x for x in lines if not x["path"].startswith("admission/")}
    assert [data[i]["result"] for i in ids] == [True, False, False]
    assert [data[i]["input"] for i in ids] == [{"method": m} for m in ("GET", "POST", "PUT")]
    assert "result" not in data[undefined]  # OPA: an undefined decision has no result
    first = data[ids[0]]
    assert first["path"] == "httpapi/authz/allow"
    assert first["labels"]["team"] == "platform"
    assert set(first["labels"]) == {"id", "version", "team"}
    assert first["results"][0]["rule"] == "allow"
    assert len({x["labels"]["id"] for x in lines}) == 1  # one server, both workers


def test_an_admission_line_holds_the_review_and_the_answer_with_secrets_redacted(logged):
    body = secret_review()  # the recorded ConfigMap UPDATE as a Secret's
    body["request"]["uid"] = "secret-uid"
    answer = logged.client().post("/mutate", body).json()
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    assert {"op": "add", "path": "/data/added", "value": "c2VjcmV0"} in patch  # to kube-apiserver
    line = line_where(logged, "uid", "secret-uid")
    for side in ("object", "oldObject"):
        logged_object = line["input"]["request"][side]
        assert logged_object["data"] == {"password": "<redacted>"}
        assert logged_object["stringData"] == {"password": "<redacted>"}
        assert logged_object["metadata"]["annotations"][LAST_APPLIED] == "<redacted>"
    logged_patch = json.loads(base64.b64decode(line["result"]["response"]["patch"]))
    assert {"op": "add", "path": "/data/added", "value": "<redacted>"} in logged_patch
    for secret in ("c2VjcmV0", PASSWORD, ENCODED):
        assert secret not in json.dumps(line)
    assert line["path"] == "admission/mutate"
    assert line["result"]["response"]["uid"] == "secret-uid"


def test_masks_erase_configured_pointers_and_apply_the_bundles_mask_policy(logged):
    """OPA: "the masking policy generates one or more JSON Pointers, they will be erased from
    the decision log event. The erased paths are recorded on the event itself"; an upsert
    overwrites and is recorded in `masked`."""
    given = {"input": {"method": "GET", "token": "t0ps3cret", "password": "hunter2"}}
    decision_id = logged.client().post("/v1/data/httpapi/authz/allow", given).json()["decision_id"]
    line = line_where(logged, "decision_id", decision_id)
    assert line["input"] == {"method": "GET", "password": "**REDACTED**"}
    assert line["erased"] == ["/input/token"]
    assert line["masked"] == ["/input/password"]
    assert line["result"] is True


def test_an_event_over_the_size_cap_loses_its_input_first(logged):
    body = json.loads(wire_bytes(recorded_review("06-pod-create-web-server-registry-1.21.1--02-validate-CREATE")))
    body["request"]["uid"] = "huge-uid"
    body["request"]["object"]["metadata"]["annotations"]["example.com/blob"] = "x" * 100_000
    assert logged.client().post("/validate", body).json()["response"]["allowed"] is True
    line = line_where(logged, "uid", "huge-uid")
    assert "input" not in line
    assert line["erased"] == ["/input"]
    assert line["result"]["response"]["allowed"] is True
    jsonschema.validate(line, SCHEMA)


def test_masks_follow_opas_pointer_rules():
    """OPA: "Pointers must be prefixed with /input, /result"; "Masking operations on undefined
    pointers are ignored"; arrays by index."""
    event = {"input": {"users": [{"name": "a", "ssn": 1}], "x": 1}, "result": True, "path": "p"}
    apply_masks(event, ["/input/users/0/ssn", "/input/missing/deeper", "/path", "/input/x",
                        {"op": "upsert", "path": "/result", "value": "hidden"}])  # fmt: skip
    assert event["input"] == {"users": [{"name": "a"}]}
    assert event["result"] == "hidden"
    assert event["path"] == "p"
    assert event["erased"] == ["/input/users/0/ssn", "/input/x"]
    assert event["masked"] == ["/result"]


def decide_allowed(server, client, n, tag):
    record = recorded_review("06-pod-create-web-server-registry-1.21.1--02-validate-CREATE")
    body = json.loads(wire_bytes(record))
    for i in range(n):
        body["request"]["uid"] = f"{tag}-{i}"
        assert client.post("/validate", body).json()["response"]["allowed"] is True


def test_the_uploader_delivers_every_event_across_a_receiver_restart(tmp_path, tls):
    receiver = LogReceiver(free_port()).start()
    server = start_server(
        SEED, tmp_path, "--decision-log-url", receiver.url, "--decision-log-delay", "0.1", "0.2",
        workers=2, tls=tls,
    )  # fmt: skip
    try:
        client = server.client()
        decide_allowed(server, client, 10, "before")
        assert len(receiver.wait_for(10)) == 10
        receiver.stop()
        decide_allowed(server, client, 10, "during")
        time.sleep(1.0)  # uploads fail meanwhile, and are retried
        health = client.request("GET", "/health?plugins")
        receiver.start()
        events = receiver.wait_for(20)
        uids = sorted(e["uid"] for e in events)
        assert uids == sorted([f"before-{i}" for i in range(10)] + [f"during-{i}" for i in range(10)])
        for event in events:
            jsonschema.validate(event, SCHEMA)
        logged = {json.loads(x)["decision_id"] for x in server.decisions.read_text().splitlines()}
        assert {e["decision_id"] for e in events} <= logged  # the same events, file and service
        assert all(r["Content-Encoding"] == "gzip" for r in receiver.requests)
    finally:
        server.stop()
        receiver.stop()
    assert health.status in (200, 500)  # a worker whose upload had not failed yet says OK


def test_drops_are_counted_when_the_receiver_stays_down(tmp_path, tls):
    """OPA: "OPA will drop old events from the log if this limit is exceeded"."""
    port = free_port()  # nothing listens there
    server = start_server(
        SEED, tmp_path, "--decision-log-url", f"http://127.0.0.1:{port}/logs",
        "--decision-log-delay", "0.1", "0.2", "--decision-log-buffer", "65536",
        "--decision-log-input", tls=tls,
    )  # fmt: skip
    try:
        client = server.client()
        decide_allowed(server, client, 30, "lost")  # about 4 KB each: the buffer holds ~16
        deadline = time.monotonic() + 10
        dropped = 0.0
        while time.monotonic() < deadline:
            text = client.request("GET", "/metrics").body.decode()
            for line in text.splitlines():
                if line.startswith('admit_decision_log_events_total{outcome="dropped"}'):
                    dropped = float(line.split()[-1])
            if dropped > 0:
                break
            time.sleep(0.2)
        assert 10 <= dropped < 30
        assert "admit_decision_log_upload_failures_total" in text
        unhealthy = client.request("GET", "/health?plugins")
        assert (unhealthy.status, unhealthy.json()) == (500, {"error": "not all plugins in OK state"})
        excluded = client.request("GET", "/health?plugins&exclude-plugin=decision_logs")
        assert excluded.status == 200
    finally:
        server.stop()
