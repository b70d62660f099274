"""The policy library: every bundle loads, selects by name, passes its own test cases with
`admit test`, and those cases cover pass, fail and skip for every policy (and a workload kind
for every pod policy)."""

import json
from collections import defaultdict

import pytest

import admit
from admit.cli import main
from admit.loading.config import normalise
from admit.loading.loader import load_bundle
from admit.policies import BUNDLES, ROOT, _images, library_path
from admit.testing import request
from admit.testing.cases import discover, read_case_file
from tests.helpers import deployment

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.mark.parametrize("name", [None, *BUNDLES])
def test_admit_test_passes_on_every_library_bundle(capsys, name):
    code, out, err = run(capsys, "test", library_path(name), "--no-color")
    assert code == 0, out + err
    assert " passed in " in out


def test_bundles_are_selected_by_name():
    assert library_path() == ROOT
    assert library_path("pss_baseline") == ROOT / "pss" / "baseline"
    policies = {r.policy for r in load_bundle(library_path("pss-restricted")).rules}
    assert {"baseline.host-namespaces", "restricted.running-as-non-root"} <= policies
    with pytest.raises(ValueError, match="choose one of pss-baseline"):
        library_path("pss-privileged")


def _expected_results():
    """policy (as named from the library root) -> results its cases expect, and the kinds of
    the resources of those cases."""
    policies = {r.policy for r in load_bundle(ROOT).rules}
    results, kinds = defaultdict(set), defaultdict(set)
    for path in discover(ROOT):
        case_file, problems = read_case_file(path, ROOT)
        assert case_file is not None, problems
        for case in case_file.cases:
            for expectation in case.expect:
                policy = next(
                    p + normalise(expectation.policy)
                    for p in case_file.prefixes
                    if p + normalise(expectation.policy) in policies
                )
                results[policy].add(expectation.result)
                kinds[policy] |= {r["kind"] for r in case.resources}
    return policies, results, kinds


def test_every_library_policy_has_pass_fail_and_skip_cases():
    policies, results, _ = _expected_results()
    missing = {p: {"pass", "fail", "skip"} - results[p] for p in policies}
    assert {p: m for p, m in missing.items() if m} == {}


def test_every_pod_policy_is_tested_on_a_workload_kind():
    policy_set = load_bundle(ROOT)
    pod_policies = {
        r.policy for r in policy_set.rules if any(k.kind == "Pod" for k in r.match.kinds)
    }
    _, _, kinds = _expected_results()
    assert {p for p in pod_policies if not kinds[p] & WORKLOADS} == set()


def test_the_library_checks_manifests_by_path(capsys, tmp_path):
    manifest = deployment("nginx:1.27")
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    (tmp_path / "deploy.json").write_text(json.dumps(manifest))
    code, out, _ = run(capsys, "check", library_path("pss-baseline"), tmp_path, "-o", "json")
    assert code == 1
    [failure] = [r for r in json.loads(out)["results"] if r["result"] == "fail"]
    assert (failure["policy"], failure["path"]) == (
        "privileged-containers",
        "spec.template.spec.containers[0].securityContext.privileged",
    )


def test_a_library_rule_is_a_plain_function_over_a_request():
    policy_set = load_bundle(library_path("pss-restricted"))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    decision = admit.evaluate(policy_set, request(pod))
    assert decision.allowed, decision.denials
    assert {r.result for r in decision.results} == {"pass"}


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("nginx", ("docker.io", "", "library/nginx", "", "")),
        ("nginx:1.27", ("docker.io", "", "library/nginx", "1.27", "")),
        ("team/app:2", ("docker.io", "", "team/app", "2", "")),
        ("index.docker.io/nginx", ("docker.io", "", "library/nginx", "", "")),
        ("localhost/app", ("localhost", "", "app", "", "")),
        ("192.168.64.1:5000/nginx", ("192.168.64.1", "5000", "nginx", "", "")),
        ("192.168.64.1:1.0", ("docker.io", "", "library/192.168.64.1", "1.0", "")),
        ("ghcr.io/a/b:1@sha256:ab", ("ghcr.io", "", "a/b", "1", "sha256:ab")),
    ],
)
def test_image_references_are_read_as_the_runtime_reads_them(reference, parsed):
    assert tuple(_images.parse(reference)) == parsed


@pytest.mark.parametrize(
    ("reference", "tag"),
    [("nginx", "latest"), ("nginx:1.27", "1.27"), ("nginx@sha256:ab", ""), ("nginx:latest@sha256:ab", "latest")],
)
def test_an_image_without_tag_or_digest_pulls_latest(reference, tag):
    assert _images.parse(reference).effective_tag == tag


@pytest.mark.parametrize(
    ("reference", "entry", "allowed"),
    [
        ("192.168.64.1:5000/nginx:1", "192.168.64.1", True),
        ("192.168.64.1/nginx:1", "192.168.64.1", True),
        ("192.168.64.10/nginx:1", "192.168.64.1", False),
        ("192.168.64.1.evil.example/nginx:1", "192.168.64.1", False),
        ("192.168.64.1:1.0", "192.168.64.1", False),
        ("192.168.64.1:5000/nginx:1", "192.168.64.1:5001", False),
        ("ghcr.io/acme/tool:1", "ghcr.io/acme", True),
        ("ghcr.io/acme-evil/tool:1", "ghcr.io/acme", False),
        ("nginx:1.27", "docker.io", True),
        ("1.dkr.ecr.eu-west-1.amazonaws.com/app:3", "*.dkr.ecr.*.amazonaws.com", True),
        ("evil.example/1.dkr.ecr.eu-west-1.amazonaws.com/app:3", "*.dkr.ecr.*.amazonaws.com", False),
        ("Registry.Example.com/app:1", "registry.example.com", True),
    ],
)
def test_registry_entries_match_on_the_host_boundary(reference, entry, allowed):
    assert _images.from_registry(_images.parse(reference), entry) is allowed
