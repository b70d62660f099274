"""What-if replay: the seed's answers to the recorded kube-apiserver traffic, recorded by a real
`admit serve` (two workers) with --decision-log-input, are judged again with a stricter bundle;
`admit replay` lists exactly the answers that flip, by policy, and exits 1."""

import json

import pytest

from admit.cli import main
from tests.helpers import FIXTURES, SEED, recorded, wire_bytes, write_bundle
from tests.server.harness import start_server

STRICTER = ("--set", "trusted-images.repo_prefix=192.168.64.1:5000/nginx")


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.fixture(scope="module")
def decisions(tmp_path_factory, tls):
    """The decision log of the seed served the recorded traffic sent to /validate (v1)."""
    tmp = tmp_path_factory.mktemp("replay")
    with start_server(SEED, tmp, "--decision-log-input", workers=2, tls=tls) as server:
        client = server.client()
        sent = 0
        for record in recorded():
            if record["http"]["path"].startswith("/validate?"):
                assert client.post("/validate", wire_bytes(record)).status == 200
                sent += 1
        server.stop()
    lines = server.decisions.read_text().splitlines()
    assert len(lines) == sent
    return server.decisions


def test_the_log_holds_each_request_with_secret_data_redacted(decisions, tmp_path, tls):
    lines = [json.loads(line) for line in decisions.read_text().splitlines()]
    assert all(line["input"]["request"]["uid"] == line["uid"] for line in lines)
    secret = {
        "uid": "5b2b6a10-0000-4000-8000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "requestKind": {"group": "", "version": "v1", "kind": "Secret"},
        "requestResource": {"group": "", "version": "v1", "resource": "secrets"},
        "name": "db", "namespace": "default", "operation": "CREATE",
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                   "data": {"password": "aHVudGVyMg=="}},
        "oldObject": None, "dryRun": False, "options": None,
    }  # fmt: skip
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": secret}
    with start_server(SEED, tmp_path, "--decision-log-input", tls=tls) as server:
        assert server.client().post("/validate", review).json()["response"]["allowed"] is True
        server.stop()
    [line] = [json.loads(x) for x in server.decisions.read_text().splitlines()]
    assert line["input"]["request"]["object"]["data"] == {"password": "<redacted>"}
    assert "aHVudGVyMg" not in server.decisions.read_text()


def test_replay_with_a_stricter_bundle_lists_exactly_the_flipped_decisions(capsys, decisions):
    code, out, _ = run(capsys, "replay", SEED, *STRICTER, "--from", decisions, "-o", "json")
    assert code == 1
    document = json.loads(out)
    flipped = sorted(
        (c["operation"], c["kind"], f"{c['namespace']}/{c['name']}")
        for c in document["changes"]
        if any(x["change"] == "denied" for x in c["changes"])
    )
    # every allowed CREATE with an image from the registry that is not nginx (the ReplicaSet of
    # step 13 and its pod have a busybox init container)
    assert flipped == [
        ("CREATE", "apps/v1/DaemonSet", "team-a/node-agent"),
        ("CREATE", "apps/v1/ReplicaSet", "default/web-64c6b94bc7"),
        ("CREATE", "apps/v1/StatefulSet", "default/db"),
        ("CREATE", "batch/v1/CronJob", "default/nightly-report"),
        ("CREATE", "batch/v1/Job", "default/migrate-db"),
        ("CREATE", "v1/Pod", "default/db-0"),
        ("CREATE", "v1/Pod", "default/migrate-db-pbsjw"),
        ("CREATE", "v1/Pod", "default/web-64c6b94bc7-v9nc6"),
    ]
    [job] = [c for c in document["changes"] if c["name"] == "migrate-db"]
    assert job["changes"] == [
        {
            "change": "denied",
            "policy": "trusted-images",
            "messages": [
                "192.168.64.1:5000/busybox:1.36 repo not start with 192.168.64.1:5000/nginx"
            ],
        }
    ]
    # UPDATEs of objects that already had the new violation are allowed with a new warning:
    # the label on the old pod, the scale of step 12, the image change of step 13
    warned = sorted((c["operation"], c["kind"], c["name"]) for c in document["changes"]
                    if [x["change"] for x in c["changes"]] == ["warned"])  # fmt: skip
    assert warned == [
        ("UPDATE", "apps/v1/Deployment", "web"),
        ("UPDATE", "apps/v1/ReplicaSet", "web-5b8888879c"),
        ("UPDATE", "v1/Pod", "nginx-latest"),
    ]
    assert document["summary"]["denied"] == 8
    assert document["summary"]["allowed"] == 0
    assert document["summary"]["replayed"] == len(decisions.read_text().splitlines())


def test_replay_text_groups_by_policy_with_counts(capsys, decisions):
    code, out, _ = run(capsys, "replay", SEED, *STRICTER, "--from", decisions)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "Newly denied: 8 decisions (by policy: trusted-images 8)"
    assert lines[1] == "  trusted-images (8)"
    assert "Newly allowed: none" in lines
    assert "New warnings: 3 decisions (by policy: trusted-images 3)" in lines
    unchanged = len(decisions.read_text().splitlines()) - 11
    assert lines[-1].endswith(
        f"8 newly denied, 0 newly allowed, 3 with new warnings, {unchanged} unchanged"
    )


def test_replay_with_the_same_bundle_changes_nothing(capsys, decisions):
    code, out, _ = run(capsys, "replay", SEED, "--from", decisions, "-o", "json")
    assert code == 0
    assert json.loads(out)["changes"] == []


def test_a_looser_bundle_newly_allows_what_the_seed_denied(capsys, decisions, tmp_path):
    rules = (SEED / "trusted_images.py").read_text()
    looser = write_bundle(tmp_path / "looser", {
        "trusted_images.py": rules,
        "admit.yaml": "policies:\n  trusted-images:\n    action: warn\n",
    })  # fmt: skip
    code, out, _ = run(capsys, "replay", looser, "--from", decisions, "-o", "json")
    assert code == 0
    document = json.loads(out)
    allowed = {c["name"] for c in document["changes"]
               if any(x == {"change": "allowed", "policy": "trusted-images", "messages": []}
                      for x in c["changes"])}  # fmt: skip
    assert {"web-server", "nginx-latest", "complex", "debug-target"} <= allowed


def test_replay_of_recorded_admission_reviews_compares_with_their_recorded_answers(capsys):
    """The capture webhook allowed everything but :latest on /validate (steps 28-31)."""
    code, out, _ = run(capsys, "replay", SEED, "--from", FIXTURES / "admission", "-o", "json")
    assert code == 1
    document = json.loads(out)
    denied = {c["where"].rsplit("/", 1)[1] for c in document["changes"]
              if any(x["change"] == "denied" for x in c["changes"])}  # fmt: skip
    assert "02-pod-create-web-server-nginx-1.21.1--02-validate-CREATE-pod-web-server.json" in denied
    assert not any(name.startswith("28-deny-kubectl-apply-pod-registry-latest--02-validate-CREATE")
                   for name in denied)  # denied then too  # fmt: skip
    assert not any("--01-mutate-" in name for name in denied)  # mutations run no validations


def test_reviews_without_an_answer_need_a_baseline(capsys, tmp_path):
    body = recorded()[0]["body"]
    review = tmp_path / "review.json"
    review.write_text(json.dumps(body))
    code, _, err = run(capsys, "replay", SEED, "--from", review)
    assert code == 2
    assert "holds no answer to compare with: give --baseline BUNDLE" in err
    code, out, _ = run(capsys, "replay", SEED, *STRICTER, "--from", review, "--baseline", SEED)
    assert code == 0
    assert "1 recorded admissions judged again" in out


def test_a_log_without_requests_says_how_to_record_them(capsys, tmp_path):
    log = tmp_path / "decisions.jsonl"
    log.write_text('{"uid": "x", "endpoint": "/validate", "allowed": true, "results": []}\n')
    code, _, err = run(capsys, "replay", SEED, "--from", log)
    assert code == 2
    assert (
        f"{log}:1: this decision-log line holds no request: run `admit serve` with "
        "--decision-log-input to record them"
    ) in err
