"""`admit check` as a CI step: one warn semantics and --fail-on-warn, the exit codes, inputs
that are not Kubernetes objects, --include/--exclude, mutations offline, parameters from the
command line (also for the installed library) and --message-format."""

import json

import pytest
import yaml

from tests.cli.test_check import run
from tests.helpers import SEED, pod, write_bundle

OK_POD = SEED / "pods" / "pod-ok.yaml"
BAD_TAG = SEED / "pods" / "pod-bad-tag.yaml"

WARNINGS = {
    "p.py": "import admit\n\n"
    "@admit.validate('Pod', action='warn')\n"
    "def action_warn(request):\n    return 'by action'\n\n"
    "@admit.validate('Pod')\n"
    "def called_warn(request):\n    return admit.warn('by admit.warn()')\n\n"
    "@admit.validate('Pod', action='audit')\n"
    "def audited(request):\n    return 'recorded'\n",
}


def test_a_warn_action_and_admit_warn_both_count_and_print_as_warn(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", WARNINGS)
    code, out, _ = run(capsys, "check", bundle, OK_POD, "-o", "json")
    document = json.loads(out)
    assert code == 0
    assert {r["rule"]: r["result"] for r in document["results"]} == {
        "action_warn": "warn", "called_warn": "warn", "audited": "audit",
    }  # fmt: skip
    assert document["summary"]["warn"] == 2
    assert document["summary"]["audit"] == 1
    assert document["summary"]["fail"] == 0
    _, table, _ = run(capsys, "check", bundle, OK_POD, "--no-color")
    assert table.splitlines()[-1] == "1 resource checked: 2 warn, 1 audit"
    assert "(warn)" not in table


def test_fail_on_warn_makes_warnings_exit_1_but_not_audits(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", WARNINGS)
    assert run(capsys, "check", bundle, OK_POD, "--fail-on-warn")[0] == 1
    audit_only = write_bundle(tmp_path / "a", {"p.py": WARNINGS["p.py"].replace("'warn'", "'audit'").replace("admit.warn(", "(")})
    assert run(capsys, "check", audit_only, OK_POD, "--fail-on-warn")[0] == 1  # called_warn now fails
    only_audit = write_bundle(
        tmp_path / "c",
        {"p.py": "import admit\n@admit.validate('Pod', action='audit')\ndef a(request):\n    return 'x'\n"},
    )
    assert run(capsys, "check", only_audit, OK_POD, "--fail-on-warn")[0] == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((SEED, OK_POD), 0),
        ((SEED, BAD_TAG), 1),
        (("WARN", OK_POD), 0),
        (("WARN", OK_POD, "--fail-on-warn"), 1),
        ((SEED, OK_POD, "--output", "xml"), 2),
        ((SEED, "missing.yaml"), 2),
        ((SEED, OK_POD, "--set", "trusted-images.repo_prefix"), 3),
        (("library:nothing", OK_POD), 2),
        (("BROKEN", OK_POD), 3),
    ],
)
def test_exit_codes(capsys, tmp_path, args, code):
    bundles = {
        "WARN": write_bundle(tmp_path / "w", WARNINGS),
        "BROKEN": write_bundle(tmp_path / "x", {"p.py": "import admit\ndef x(:\n"}),
    }
    assert run(capsys, "check", *(bundles.get(a, a) for a in args))[0] == code


def helm_like_repo(root):
    (root / "chart" / "templates").mkdir(parents=True)
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (root / "chart" / "values.yaml").write_text("replicas: 2\nimage: {tag: latest}\n")
    (root / "chart" / "templates" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    (root / "package.json").write_text('{"name": "site", "version": "1.0.0"}')
    (root / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deploy]\n"
    )
    (root / "deploy").mkdir()
    (root / "deploy" / "pod.yaml").write_text(yaml.safe_dump(pod("192.168.64.1:5000/app:1.0")))
    return root


def test_files_that_are_not_kubernetes_objects_are_skipped_with_a_note(capsys, tmp_path):
    repo = helm_like_repo(tmp_path / "repo")
    code, out, err = run(capsys, "check", SEED, repo, "--exclude", "templates")
    assert code == 0
    assert out.splitlines()[-1] == (
        "1 resource checked: 2 pass; 4 skipped (not Kubernetes objects)"
    )
    assert f"admit: skipped {repo}/chart/Chart.yaml:1: not a Kubernetes object (a  with no" not in err
    assert f"admit: skipped {repo}/chart/values.yaml:1: not a Kubernetes object (no kind)" in err
    assert f"admit: skipped {repo}/package.json:1: not a Kubernetes object (no kind)" in err
    assert "kustomization.yaml:1: not a Kubernetes object (a kustomization" in err


def test_strict_makes_non_objects_errors(capsys, tmp_path):
    repo = helm_like_repo(tmp_path / "repo")
    code, _, err = run(capsys, "check", SEED, repo, "--exclude", "templates", "--strict")
    assert code == 2
    assert f"admit: {repo}/chart/values.yaml:1: not a Kubernetes object (no kind)" in err


def test_a_helm_template_in_the_walk_says_how_to_check_it(capsys, tmp_path):
    repo = helm_like_repo(tmp_path / "repo")
    code, _, err = run(capsys, "check", SEED, repo)
    assert code == 2
    assert "pod.yaml:4: invalid YAML" in err
    assert "a Helm template? check `helm template` output through stdin, or --exclude it" in err


def test_include_and_exclude_globs_choose_the_files(capsys, tmp_path):
    repo = helm_like_repo(tmp_path / "repo")
    (repo / "deploy" / "extra.k8s").write_text(yaml.safe_dump(pod("nginx:1", name="extra")))
    code, out, err = run(capsys, "check", SEED, repo, "--include", "deploy/**")
    assert (code, err) == (1, "")
    assert out.splitlines()[-1] == "2 resources checked: 3 pass, 1 fail"
    code, out, _ = run(capsys, "check", SEED, repo, "--exclude", "chart", "--exclude", "*.json",
                       "--exclude", "kustomization.yaml")  # fmt: skip
    assert (code, out.splitlines()[-1]) == (0, "1 resource checked: 2 pass")


MUTATING = {
    "m.py": "import admit\n\n"
    "@admit.mutate('Pod')\n"
    "def team_label(pod):\n"
    "    pod.setdefault('metadata', {}).setdefault('labels', {})['team'] = 'web'\n\n"
    "@admit.mutate('Pod')\n"
    "def pull_policy(pod):\n"
    "    for c in pod.containers:\n"
    "        c.setdefault('imagePullPolicy', 'IfNotPresent')\n\n"
    "@admit.validate('Pod')\n"
    "def no_latest(request):\n"
    "    for c in request.containers:\n"
    "        if c.image.endswith(':latest'):\n"
    "            yield f'{c.image} is latest'\n",
}


def test_the_table_shows_each_mutating_rules_own_patch(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", MUTATING)
    code, out, _ = run(capsys, "check", bundle, OK_POD, "--no-color")
    rows = {line.split()[3]: line.split(None, 5)[5] for line in out.splitlines()[1:-1]}
    assert code == 0
    assert json.loads(rows["m/team_label"]) == [
        {"op": "add", "path": "/metadata/labels/team", "value": "web"}
    ]
    assert json.loads(rows["m/pull_policy"]) == [
        {"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"}
    ]
    assert out.splitlines()[-1] == "1 resource checked: 1 pass, 2 mutate"


def test_mutate_prints_the_objects_as_kube_apiserver_would_store_them(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", MUTATING)
    both = tmp_path / "pods.yaml"
    both.write_text(OK_POD.read_text() + "---\n" + BAD_TAG.read_text().replace("web-server", "bad"))
    code, out, err = run(capsys, "check", bundle, both, "--mutate", "-o", "yaml")
    [stored] = list(yaml.safe_load_all(out))
    assert code == 1
    assert stored["metadata"]["labels"] == {"run": "web-server", "team": "web"}
    assert stored["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert f"admit: {both}:18: Pod default/bad is denied, left out" in err
    assert "192.168.64.1:5000/nginx:latest is latest" in err
    assert run(capsys, "check", bundle, both, "--mutate", "-o", "json")[0] == 2


def test_set_changes_a_parameter_and_is_type_checked_like_admit_yaml(capsys, tmp_path):
    code, out, _ = run(capsys, "check", SEED, OK_POD, "--set", "trusted-images.repo_prefix=docker.io")
    assert code == 1
    assert "192.168.64.1:5000/nginx:1.21.1 repo not start with docker.io" in out
    bundle = write_bundle(
        tmp_path / "b",
        {"limits.py": "import admit\n@admit.validate('Pod')\n"
                      "def most(request, *, containers: int = 3):\n"
                      "    if len(request.containers) > containers:\n        return 'too many'\n"},
    )  # fmt: skip
    assert run(capsys, "check", bundle, OK_POD, "--set", "limits.containers=0")[0] == 1
    code, _, err = run(capsys, "check", bundle, OK_POD, "--set", "limits.containers=lots")
    assert code == 3
    assert (
        "--set limits.containers=lots: invalid_parameter: parameter 'containers' of "
        "rule limits/most expects int, got str 'lots'"
    ) in err
    code, _, err = run(capsys, "check", SEED, OK_POD, "--set", "trusted-image.repo_prefix=x")
    assert code == 3
    assert "--set trusted-image.repo_prefix=x: unknown_policy:" in err


def test_set_takes_text_for_str_parameters_and_settings_for_rules(capsys):
    code, out, _ = run(capsys, "check", SEED, BAD_TAG, "--set", "trusted-images.tag_suffix=1.0")
    assert code == 0
    code, out, _ = run(
        capsys, "check", SEED, BAD_TAG, "--set", "trusted-images.disallow_latest_tag.action=warn"
    )
    assert code == 0
    assert " warn " in out
    code, out, _ = run(
        capsys, "check", SEED, BAD_TAG, "--set", "trusted-images.disallow_latest_tag.enabled=false"
    )
    assert (code, out.splitlines()[-1]) == (0, "1 resource checked: 1 pass")


def test_config_files_layer_over_admit_yaml_and_set_over_them(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {
            "trusted_images.py": (SEED / "trusted_images.py").read_text(),
            "admit.yaml": "policies:\n  trusted-images:\n    rules:\n"
            "      disallow_latest_tag: {enabled: false}\n",
        },
    )
    values = tmp_path / "values.yaml"
    values.write_text(
        "policies:\n  trusted_images:\n    parameters: {repo_prefix: docker.io}\n"
        "    rules:\n      disallow_latest_tag: {enabled: true}\n"
    )
    code, out, _ = run(capsys, "check", bundle, BAD_TAG, "--config", values, "-o", "json")
    failed = sorted(r["message"] for r in json.loads(out)["results"] if r["result"] == "fail")
    assert (code, len(failed)) == (1, 2)
    code, out, _ = run(capsys, "check", bundle, BAD_TAG, "--config", values,
                       "--set", "trusted-images.repo_prefix=192.168.64.1",
                       "--set", "trusted-images.disallow_latest_tag.enabled=false")  # fmt: skip
    assert (code, out.splitlines()[-1]) == (0, "1 resource checked: 1 pass")
    values.write_text("policies:\n  trusted-images:\n    parameters:\n      repo_prefix: 3\n")
    code, _, err = run(capsys, "check", bundle, BAD_TAG, "--config", values)
    assert code == 3
    assert f"{values}:4: invalid_parameter: parameter 'repo_prefix'" in err


def test_the_installed_library_is_named_and_configured_from_the_command_line(capsys, tmp_path):
    f = tmp_path / "pod.yaml"
    f.write_text(yaml.safe_dump(pod("ghcr.io/acme/app:1.0")))
    code, out, _ = run(capsys, "check", "library:top5", f, "-o", "json")
    assert code == 1
    assert any(r["rule"] == "trusted_repo" and r["result"] == "fail" for r in json.loads(out)["results"])
    code, out, _ = run(capsys, "check", "library:top5", f, "--set", "trusted-repo.repos=[ghcr.io/acme]",
                       "-o", "json")  # fmt: skip
    assert [r["result"] for r in json.loads(out)["results"] if r["rule"] == "trusted_repo"] == ["pass"]
    code, _, err = run(capsys, "check", "library:pss", f)
    assert code == 2
    assert "no library bundle 'pss'; choose one of pss-baseline, pss-restricted" in err


def test_message_format_names_policy_and_rule(capsys):
    code, out, _ = run(capsys, "check", SEED, BAD_TAG, "--message-format", "[{policy}/{rule}] {message}", "-o", "json")
    [failure] = [r for r in json.loads(out)["results"] if r["result"] == "fail"]
    assert failure["message"] == (
        "[trusted-images/disallow_latest_tag] 192.168.64.1:5000/nginx:latest tag end with :latest"
    )
    code, _, err = run(capsys, "check", SEED, BAD_TAG, "--message-format", "{rule} {user}")
    assert code == 2
    assert "names {user}; it may name {message}, {policy}, {rule}, {action}" in err


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_for_each_shell(capsys, shell):
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    assert "_ADMIT_COMPLETE" in out
    assert f"{shell}_complete" in out or f"{shell}_source" in out or "complete" in out


def test_completion_offers_library_bundles(monkeypatch, capsys):
    monkeypatch.setenv("_ADMIT_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "admit check library:p")
    monkeypatch.setenv("COMP_CWORD", "2")
    code, out, _ = run(capsys)
    assert code == 0
    assert out.splitlines()[:2] == ["plain,library:pss-baseline", "plain,library:pss-restricted"]
