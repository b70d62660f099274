"""`admit test`: a bundle's YAML test cases, reported like pytest, with CI exit codes."""

import json
from xml.etree import ElementTree as ET

import pytest

from admit.cli import main
from tests.helpers import write_bundle

RULES = '''
import admit


@admit.validate("Pod")
def no_latest(request):
    """Images must not use the latest tag."""
    for c in request.containers:
        if c.image.endswith(":latest"):
            yield admit.Violation(f"{c.image} uses latest", f"{c.path}.image")


@admit.validate(match=admit.Match.of("Pod", groups=["devs"]))
def devs_only_small(request, *, max_containers: int = 1):
    if len(request.containers) > max_containers:
        yield "too many containers"


@admit.validate("Pod", operations=["UPDATE"])
def keep_team(request):
    if request.old_labels.get("team") != request.labels.get("team"):
        yield admit.warn("the team label changed")


@admit.validate(match=admit.Match.of("Pod", namespace_selector={"matchLabels": {"env": "prod"}}))
def prod_needs_owner(request):
    return "owner" in request.labels


@admit.mutate("Pod")
def default_pull_policy(pod):
    for c in pod.containers:
        c.setdefault("imagePullPolicy", "IfNotPresent")
'''

POD_LATEST = "{apiVersion: v1, kind: Pod, metadata: {name: web}, spec: {containers: [{name: app, image: 'nginx:latest'}]}}"
POD_OK = "{apiVersion: v1, kind: Pod, metadata: {name: web, labels: {team: a}}, spec: {containers: [{name: app, image: 'nginx:1.27'}]}}"

CASES = f"""
cases:
- name: latest is refused
  resource: {POD_LATEST}
  expect:
    images/no_latest:
      result: fail
      messages: [nginx:latest uses latest]
      contains: latest
      paths: ['spec.containers[0].image']
  allowed: false
- name: a pinned image passes, and gets a pull policy
  resource: {POD_OK}
  expect: {{images/no_latest: pass, images: pass}}
  allowed: true
  patch:
  - {{op: add, path: /spec/containers/0/imagePullPolicy, value: IfNotPresent}}
"""


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main(["test", *(str(a) for a in args)])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def bundle(tmp_path, cases=CASES, **files):
    return write_bundle(
        tmp_path / "b", {"images.py": RULES, "tests/images_test.yaml": cases, **files}
    )


def test_passing_cases_exit_0_with_a_pytest_like_summary(capsys, tmp_path):
    code, out, _ = run(capsys, bundle(tmp_path), "--no-color")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("images_test.yaml ..")
    assert "2 passed in " in lines[-1]


def test_a_failed_expectation_exits_1_and_shows_a_diff(capsys, tmp_path):
    cases = CASES.replace("messages: [nginx:latest uses latest]", "messages: [latest is bad]")
    code, out, _ = run(capsys, bundle(tmp_path, cases), "--no-color")
    assert code == 1
    assert "images_test.yaml F." in out
    assert "FAILURES" in out
    assert "images_test.yaml::latest is refused" in out
    assert "Pod web: images/no_latest: messages differ (- expected, + actual)" in out
    assert "  - 'latest is bad'" in out
    assert "  + 'nginx:latest uses latest'" in out
    assert "1 failed, 1 passed in " in out


def test_a_wrong_result_shows_what_the_rule_said(capsys, tmp_path):
    cases = CASES.replace("images/no_latest: pass, images: pass", "images/no_latest: fail")
    cases = cases.replace(POD_OK, POD_LATEST).replace("allowed: true", "allowed: false")
    cases = cases.replace("      result: fail\n", "      result: pass\n", 1)
    code, out, _ = run(capsys, bundle(tmp_path, cases), "--no-color")
    assert code == 1
    assert "images/no_latest: result: expected pass, got fail" in out
    assert "nginx:latest uses latest  [spec.containers[0].image]" in out


def test_decision_and_patch_expectations_are_checked(capsys, tmp_path):
    cases = CASES.replace("value: IfNotPresent", "value: Always")
    code, out, _ = run(capsys, bundle(tmp_path, cases), "--no-color")
    assert code == 1
    assert "decision: patch differ" in out
    assert "'value': 'Always'" in out


def test_operation_user_groups_old_object_and_namespace_labels_reach_the_rules(capsys, tmp_path):
    cases = f"""
cases:
- name: the devs group is matched
  user: alice
  groups: [devs]
  resource: {{apiVersion: v1, kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: a, image: 'x:1'}}, {{name: b, image: 'x:1'}}]}}}}
  expect: {{images/devs_only_small: fail}}
- name: others are skipped
  resource: {{apiVersion: v1, kind: Pod, metadata: {{name: p}}, spec: {{containers: [{{name: a, image: 'x:1'}}, {{name: b, image: 'x:1'}}]}}}}
  expect: {{images/devs_only_small: skip, images/keep_team: skip}}
- name: an update compares with the old object and may only warn
  operation: UPDATE
  old_object: {POD_OK}
  resource: {POD_OK.replace("team: a", "team: b")}
  expect: {{images/keep_team: {{result: warn, messages: [the team label changed]}}}}
  allowed: true
- name: namespace labels come from a Namespace among the objects
  namespace: shop
  cluster: [{{apiVersion: v1, kind: Namespace, metadata: {{name: shop, labels: {{env: prod}}}}}}]
  resource: {POD_OK}
  expect: {{images/prod_needs_owner: fail}}
- name: or are given directly
  namespace: shop
  namespace_labels: {{env: dev}}
  resource: {POD_OK}
  expect: {{images/prod_needs_owner: skip}}
- name: a delete is judged on the old object
  operation: DELETE
  resource: {POD_LATEST}
  expect: {{images: skip}}
"""
    code, out, _ = run(capsys, bundle(tmp_path, cases), "-v", "--no-color")
    assert code == 0, out
    assert "images_test.yaml::the devs group is matched PASSED" in out
    assert "6 passed" in out


def test_resources_may_come_from_files_next_to_the_test_file(capsys, tmp_path):
    cases = """
cases:
- name: every document of the file is checked
  resources: [{file: pods/two.yaml}]
  expect: {images: fail}
"""
    pods = f"{POD_LATEST}\n---\n{POD_LATEST.replace('name: web', 'name: api')}\n"
    code, out, _ = run(capsys, bundle(tmp_path, cases, **{"tests/pods/two.yaml": pods}))
    assert code == 0, out


def test_a_test_file_may_override_parameters(capsys, tmp_path):
    cases = """
config:
  policies:
    images: {parameters: {max_containers: 3}}
cases:
- name: three containers are fine now
  groups: [devs]
  resource: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: 'x:1'}, {name: b, image: 'x:1'}]}}
  expect: {images/devs_only_small: pass}
"""
    code, out, _ = run(capsys, bundle(tmp_path, cases))
    assert code == 0, out


def test_kinds_belong_in_admit_yaml_not_in_a_test_file(capsys, tmp_path):
    cases = """
config:
  kinds: [{group: example.com, version: v1, kind: Tenant, plural: tenants, scope: Cluster}]
cases:
- name: a pod
  resource: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: 'x:1'}]}}
  expect: {images/no_latest: pass}
"""
    code, out, _ = run(capsys, bundle(tmp_path, cases))
    assert code == 2
    assert "images_test.yaml:3: invalid_config: kinds are declared in the bundle's admit.yaml" in out


def test_invalid_test_files_exit_2_with_file_and_line(capsys, tmp_path):
    cases = """
cases:
- name: typo
  resourse: {}
  expect: {images: maybe}
"""
    code, out, _ = run(capsys, bundle(tmp_path, cases, **{"tests/bad_test.yaml": "cases: [\n"}))
    assert code == 2
    assert "ERRORS" in out
    assert "tests/bad_test.yaml:2: invalid_yaml:" in out
    assert "images_test.yaml:4: invalid_test: unknown key 'resourse' in a case" in out
    assert (
        "images_test.yaml:5: invalid_test: result must be one of pass, fail, warn, error, skip"
        in out
    )


def test_an_unknown_policy_or_rule_is_a_case_error(capsys, tmp_path):
    cases = f"""
cases:
- name: no such policy
  resource: {POD_OK}
  expect: {{imgs: pass}}
- name: no such rule
  resource: {POD_OK}
  expect: {{images/no_such_rule: pass}}
"""
    code, out, _ = run(capsys, bundle(tmp_path, cases), "--no-color")
    assert code == 1
    assert "images_test.yaml EE" in out
    assert "no policy 'imgs' in the bundle" in out
    assert "policy images has no rule 'no_such_rule'" in out
    assert "2 errors in" in out


def test_a_bundle_without_test_cases_exits_2(capsys, tmp_path):
    root = write_bundle(tmp_path / "b", {"images.py": RULES})
    code, _, err = run(capsys, root)
    assert code == 2
    assert "no test cases found" in err


def test_a_bundle_that_does_not_load_exits_3(capsys, tmp_path):
    root = bundle(tmp_path, **{"images.py": "import admit\n@admit.validate('Pod'\n"})
    code, _, err = run(capsys, root)
    assert code == 3
    assert "the policy bundle failed to load" in err


def test_k_selects_cases_by_file_and_name(capsys, tmp_path):
    code, out, _ = run(capsys, bundle(tmp_path), "-k", "pinned", "-o", "json")
    assert code == 0
    assert [c["name"] for c in json.loads(out)["cases"]] == [
        "a pinned image passes, and gets a pull policy"
    ]


def test_json_output_is_a_stable_document(capsys, tmp_path):
    cases = CASES.replace("messages: [nginx:latest uses latest]", "messages: [other]")
    code, out, _ = run(capsys, bundle(tmp_path, cases), "-o", "json")
    document = json.loads(out)
    assert code == 1
    assert set(document) == {"cases", "problems", "summary"}
    assert document["summary"] == {"passed": 1, "failed": 1, "error": 0}
    failed = document["cases"][0]
    assert set(failed) == {"file", "name", "line", "outcome", "duration_ms", "error", "failures"}
    assert failed["outcome"] == "failed"
    assert failed["failures"] == [
        {
            "resource": "Pod web",
            "target": "images/no_latest",
            "field": "messages",
            "expected": ["other"],
            "actual": ["nginx:latest uses latest"],
        }
    ]


def test_junit_output_counts_failures(capsys, tmp_path):
    cases = CASES.replace("messages: [nginx:latest uses latest]", "messages: [other]")
    _, out, _ = run(capsys, bundle(tmp_path, cases), "-o", "junit")
    suite = ET.fromstring(out.split("\n", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    [failure] = suite.iter("failure")
    assert "messages differ" in failure.get("message")


def test_the_loader_ignores_test_yaml_as_data(tmp_path):
    from admit.loading.loader import load_bundle

    root = bundle(tmp_path, **{"data.yaml": "registries: [a]\n", "more_test.yaml": CASES})
    assert load_bundle(root).data.raw == {"registries": ["a"]}
