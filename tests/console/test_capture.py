"""Capture as a test: a decision (the console's, or a decision-log line) becomes a *_test.yaml
case that `admit test` passes against the bundle that decided it."""

import json
import shutil

import pytest

from admit.cli import main
from admit.console.playground import evaluate_text
from admit.core.engine import evaluate
from admit.loading.capture import CaptureError, capture
from admit.loading.loader import load_bundle
from admit.testing.runner import run_bundle
from tests.helpers import ORIGIN_PODS, SEED


@pytest.fixture
def seed_copy(tmp_path):
    return shutil.copytree(SEED, tmp_path / "seed")


def console_decisions(**options):
    """What the console's playground shows for the origin's three pods."""
    text = "\n---\n".join((SEED / "pods" / name).read_text() for name in ORIGIN_PODS)
    return evaluate_text(load_bundle(SEED), text, evaluate, **options)


def test_console_decisions_become_cases_that_admit_test_passes(seed_copy):
    decisions = console_decisions(username="alice", groups=("devs",))
    (seed_copy / "tests").mkdir()
    (seed_copy / "tests" / "captured_test.yaml").write_text(capture(decisions))
    report = run_bundle(seed_copy)
    assert [r.outcome for r in report.results] == ["passed"] * 3
    denied = report.results[0].case
    assert denied.allowed is False
    assert denied.user == "alice"
    assert denied.groups == ("devs",)
    (expectation,) = [e for e in denied.expect if e.rule == "trusted_registry"]
    assert expectation.messages == (ORIGIN_PODS["pod-bad-repo.yaml"],)
    assert expectation.paths == ("spec.containers[0].image",)


def test_a_captured_case_fails_once_the_rule_stops_denying(seed_copy):
    (seed_copy / "captured_test.yaml").write_text(capture(console_decisions()[:1]))
    rules = seed_copy / "trusted_images.py"
    rules.write_text(rules.read_text().replace('repo_prefix: str = "192.168.64.1"', 'repo_prefix: str = ""'))
    assert [r.outcome for r in run_bundle(seed_copy).results] == ["failed"]


def log_line(decision):
    """The decision as the decision log writes it (no request, messages per rule)."""
    return {
        **{k: decision[k] for k in ("time", "uid", "operation", "kind", "namespace", "name", "user", "groups", "allowed", "bundle")},
        "endpoint": "/validate", "dry_run": False, "patch": 0, "latency_ms": 1.0,
        "results": [{"policy": r["policy"], "rule": r["rule"], "result": r["result"], "action": r["action"],
                     "messages": [v[0] for v in r["violations"]] or None, "error": r["error"], "us": 3}
                    for r in decision["results"]],
    }  # fmt: skip


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main(["capture", *map(str, args)])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_admit_capture_finds_a_decision_by_uid_in_the_log_and_takes_the_resource_given(capsys, tmp_path, seed_copy):
    decisions = console_decisions()
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(json.dumps(log_line(d)) + "\n" for d in decisions))
    uid = decisions[1]["uid"]
    code, out, err = run(capsys, uid[:8], "--log", log)
    assert code == 2
    assert "holds no request object to replay" in err
    assert "--resource FILE" in err
    code, out, _ = run(capsys, uid[:8], "--log", log, "--resource", SEED / "pods" / "pod-bad-tag.yaml")
    assert code == 0
    assert f"# Captured from decision {uid}" in out
    (seed_copy / "captured_test.yaml").write_text(out)
    assert [r.outcome for r in run_bundle(seed_copy).results] == ["passed"]


def test_admit_capture_reads_a_saved_console_decision(capsys, tmp_path, seed_copy):
    saved = tmp_path / "decision.json"
    saved.write_text(json.dumps(console_decisions()[0]))
    code, out, _ = run(capsys, saved)
    assert code == 0
    (seed_copy / "captured_test.yaml").write_text(out)
    assert [r.outcome for r in run_bundle(seed_copy).results] == ["passed"]


def test_admit_capture_says_what_it_could_not_find(capsys, tmp_path):
    log = tmp_path / "decisions.jsonl"
    log.write_text(json.dumps(log_line(console_decisions()[0])) + "\n")
    code, _, err = run(capsys, "no-such-uid", "--log", log)
    assert code == 2
    assert "no decision with uid 'no-such-uid'" in err
    code, _, err = run(capsys, "no-such-uid")
    assert code == 2
    assert "name the decision log with --log" in err


def test_secret_values_redacted_by_the_console_are_said_and_not_expected_in_a_patch():
    decision = console_decisions()[0]
    decision["request"]["object"]["data"] = {"password": "<redacted>"}
    decision["patch"] = [{"op": "add", "path": "/data/x", "value": "<redacted>"}]
    text = capture([decision])
    assert "# Note: Secret values were redacted in the console" in text
    assert "patch:" not in text
    with pytest.raises(CaptureError):
        capture([{**decision, "request": {"object": None, "oldObject": None}}])


def test_admit_capture_replays_a_decision_log_line_from_its_input(capsys, tmp_path, seed_copy):
    """A decision-log line holds the AdmissionReview in `input` (OPA's event format): capture
    finds it by its decision_id and needs no --resource."""
    from admit.core.review import Request
    from admit.server.admission import answer, decode_review
    from admit.server.decision_log import DecisionLog, DecisionLogSettings
    from admit.server.observers import Admission
    from tests.helpers import recorded_review, wire_bytes

    body = wire_bytes(recorded_review("02-pod-create-web-server-nginx-1.21.1--02-validate-CREATE"))
    policy_set = load_bundle(SEED)
    api_version, raw = decode_review(body)
    request = Request(raw)
    decision = evaluate(policy_set, request)
    log = DecisionLog(str(tmp_path / "decisions.jsonl"), DecisionLogSettings(include_input=True))
    encoded = answer(api_version, request.uid, decision, mutating=False)
    log.record(Admission(request, decision, body, "/validate", 0.001, policy_set.digest,
                         answer=encoded, policy_set=policy_set))  # fmt: skip
    log.close()
    line = json.loads((tmp_path / "decisions.jsonl").read_text())
    code, out, _ = run(capsys, line["decision_id"], "--log", tmp_path / "decisions.jsonl")
    assert code == 0
    assert f"# Captured from decision {request.uid}" in out
    (seed_copy / "captured_test.yaml").write_text(out)
    assert [r.outcome for r in run_bundle(seed_copy).results] == ["passed"]
