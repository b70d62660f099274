"""`admit check` and `admit test` show excepted results with who excepted them, say which of
the bundle's exceptions expired (they no longer apply) or expire within 7 days, and list every
exception in their JSON."""

import json
import time

import pytest

from admit.cli import main
from tests.helpers import FIXTURES, SEED, write_bundle

RULES = (SEED / "trusted_images.py").read_text()
EXCEPTIONS = """\
exceptions:
- name: legacy-latest
  owner: team-web
  reason: nginx-latest is rebuilt next sprint
  expires: {soon}
  policies: [trusted-images/disallow_latest_tag]
  match: {{kinds: [Pod], names: [nginx-latest]}}
- name: old-registry
  owner: team-db
  reason: the migration ended
  expires: 2021-03-01
  policies: [trusted-images/trusted_registry]
  match: {{names: [nginx-latest]}}
"""
CASES = """\
cases:
- name: the latest tag of nginx-latest is excepted
  resource: {file: pod.yaml}
  expect:
    trusted-images/disallow_latest_tag: excepted
    trusted-images/trusted_registry: fail
"""


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.fixture
def bundle(tmp_path):
    soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
    pod = (FIXTURES / "manifests" / "pod-nginx-latest.yaml").read_text()
    files = {
        "trusted_images.py": RULES,
        "exceptions.yaml": EXCEPTIONS.format(soon=soon),
        "tests/pods_test.yaml": CASES,
        "tests/pod.yaml": pod,
    }
    return write_bundle(tmp_path / "bundle", files), soon


def test_check_shows_the_excepted_violation_and_the_expired_exception(capsys, bundle):
    root, soon = bundle
    pod = FIXTURES / "manifests" / "pod-nginx-latest.yaml"
    code, out, err = run(capsys, "check", root, pod)
    assert code == 1  # the expired exception no longer spares the untrusted registry
    assert "fail      nginx:latest repo not start with 192.168.64.1" in out
    assert (
        f"excepted  nginx:latest tag end with :latest (excepted by legacy-latest, owner "
        f"team-web, expires {soon})" in out
    )
    assert err.splitlines() == [
        f"admit: exception legacy-latest (owner team-web, exceptions.yaml:2) expires on {soon}, "
        "in 3 days",
        "admit: exception old-registry (owner team-db, exceptions.yaml:8) expired on 2021-03-01: "
        "it no longer applies",
    ]


def test_check_json_lists_the_exceptions_and_their_state(capsys, bundle):
    root, _ = bundle
    pod = FIXTURES / "manifests" / "pod-nginx-latest.yaml"
    _, out, _ = run(capsys, "check", root, pod, "-o", "json")
    document = json.loads(out)
    assert [(e["name"], e["state"]) for e in document["exceptions"]] == [
        ("legacy-latest", "expiring"),
        ("old-registry", "expired"),
    ]
    assert {r["rule"]: r["result"] for r in document["results"]} == {
        "trusted_registry": "fail",
        "disallow_latest_tag": "excepted",
    }
    assert document["summary"]["excepted"] == 1


def test_admit_test_runs_cases_expecting_excepted_and_reports_the_expired_one(capsys, bundle):
    root, _ = bundle
    code, out, err = run(capsys, "test", root, "-o", "json")
    assert code == 0, out
    assert json.loads(out)["summary"] == {"passed": 1, "failed": 0, "error": 0}
    assert "old-registry (owner team-db, exceptions.yaml:8) expired on 2021-03-01" in err


def test_sarif_marks_an_excepted_finding_as_suppressed_and_stays_valid(capsys, bundle):
    from tests.cli.test_check_formats import sarif_validator

    root, soon = bundle
    _, out, _ = run(capsys, "check", root, FIXTURES / "manifests" / "pod-nginx-latest.yaml",
                    "-o", "sarif")  # fmt: skip
    document = json.loads(out)
    assert sorted(sarif_validator().iter_errors(document), key=str) == []
    [excepted] = [r for r in document["runs"][0]["results"] if "suppressions" in r]
    assert excepted["level"] == "note"
    assert excepted["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": f"excepted by legacy-latest, owner team-web, expires {soon}: "
            "nginx-latest is rebuilt next sprint",
        }
    ]
