"""Loading bundles: isolation, admit.yaml overrides, data files, and every problem in one pass."""

import pytest

import admit
from admit.loading.loader import load_bundle
from admit.testing import request
from tests.helpers import SEED, pod, write_bundle

RULE = '''
import admit

@admit.validate("Pod")
def trusted_registry(request, *, repo_prefix: str = "192.168.64.1", max_containers: int = 5):
    """Images must come from the trusted registry."""
    for c in request.containers:
        if not c.image.startswith(repo_prefix):
            yield f"{c.image} repo not start with {repo_prefix}"
'''


def test_the_seed_bundle_loads_its_two_rules_under_the_module_name():
    ps = load_bundle(SEED)
    assert [r.key for r in ps.rules] == [
        "trusted-images/trusted_registry",
        "trusted-images/disallow_latest_tag",
    ]
    assert len(ps.digest) == 64


def test_admit_yaml_overrides_parameters_and_actions(tmp_path):
    write_bundle(
        tmp_path,
        {
            "images.py": RULE,
            "admit.yaml": "policies:\n  images:\n    action: warn\n"
            "    rules:\n      trusted_registry:\n"
            "        parameters: {repo_prefix: ghcr.io/}\n",
        },
    )
    [rule] = load_bundle(tmp_path).rules
    assert rule.action == "warn"
    assert rule.arguments["repo_prefix"] == "ghcr.io/"
    decision = admit.evaluate(load_bundle(tmp_path), request(pod("docker.io/x:1")))
    assert decision.allowed
    assert decision.warnings == ("docker.io/x:1 repo not start with ghcr.io/",)


def test_module_level_parameters_apply_to_every_rule_that_has_them(tmp_path):
    write_bundle(
        tmp_path,
        {
            "images.py": RULE,
            "admit.yaml": "policies:\n  images:\n    parameters: {max_containers: 2}\n",
        },
    )
    assert load_bundle(tmp_path).rules[0].arguments["max_containers"] == 2


def test_two_loads_of_a_bundle_never_share_module_state(tmp_path):
    write_bundle(
        tmp_path,
        {
            "counter.py": "import admit\nSEEN = []\n"
            "@admit.validate('Pod')\ndef r(request):\n"
            "    SEEN.append(1)\n    return str(len(SEEN))\n"
        },
    )
    first, second = load_bundle(tmp_path), load_bundle(tmp_path)
    for _ in range(3):
        admit.evaluate(first, request(pod("a")))
    assert admit.evaluate(second, request(pod("a"))).denials == ("1",)


def test_helper_modules_and_relative_imports(tmp_path):
    write_bundle(
        tmp_path,
        {
            "_helpers.py": "PREFIX = 'ghcr.io/'\n",
            "team/images.py": "import admit\nfrom .._helpers import PREFIX\n"
            "@admit.validate('Pod')\ndef r(request):\n"
            "    return None if request.containers[0].image.startswith(PREFIX) else 'no'\n",
            "test_images.py": "raise RuntimeError('test modules are not rule modules')\n",
        },
    )
    [rule] = load_bundle(tmp_path).rules
    assert rule.key == "team.images/r"


def test_modules_of_a_helper_package_are_imported_only_by_the_rules_that_use_them(tmp_path):
    write_bundle(
        tmp_path,
        {
            "_shared/__init__.py": "",
            "_shared/prefixes.py": "PREFIX = 'ghcr.io/'\n",
            "_shared/unused.py": "raise RuntimeError('a helper module nobody imports')\n",
            "images.py": "import admit\nfrom ._shared.prefixes import PREFIX\n"
            "@admit.validate('Pod')\ndef r(request):\n"
            "    return None if request.containers[0].image.startswith(PREFIX) else 'no'\n",
        },
    )
    ps = load_bundle(tmp_path)
    assert [r.key for r in ps.rules] == ["images/r"]
    assert admit.evaluate(ps, request(pod("ghcr.io/app:1"))).allowed


def test_bundle_wide_parameters_reach_every_rule_that_has_them_and_yield_to_policies(tmp_path):
    other = "import admit\n@admit.validate('Pod')\ndef other(request, *, max_containers: int = 1):\n    pass\n"
    write_bundle(
        tmp_path,
        {
            "images.py": RULE,
            "more.py": other,
            "admit.yaml": "parameters: {max_containers: 7}\n"
            "policies:\n  more:\n    parameters: {max_containers: 3}\n",
        },
    )
    arguments = {r.key: r.arguments["max_containers"] for r in load_bundle(tmp_path).rules}
    assert arguments == {"images/trusted_registry": 7, "more/other": 3}


def test_a_bundle_wide_parameter_no_rule_has_or_of_the_wrong_type_is_located(tmp_path):
    write_bundle(
        tmp_path,
        {"images.py": RULE, "admit.yaml": "parameters:\n  max_containers: many\n  nope: 1\n"},
    )
    assert _problems(tmp_path) == [
        "admit.yaml:2: invalid_parameter: parameter 'max_containers' expects int, got str 'many'",
        "admit.yaml:3: unknown_parameter: no rule of the bundle has a parameter 'nope'",
    ]


def test_data_files_land_at_their_directory_path(tmp_path):
    write_bundle(
        tmp_path,
        {
            "rules.py": "import admit\n@admit.validate('Pod')\ndef r(request):\n"
            "    return request.data.registries.allowed[0] + ' ' + request.data.teams.a.owner\n",
            "data.yaml": "registries:\n  allowed: [ghcr.io]\n",
            "teams/data.json": '{"a": {"owner": "alice"}}',
            "pods/pod.yaml": "not: data\n",
        },
    )
    ps = load_bundle(tmp_path)
    assert ps.data.raw == {
        "registries": {"allowed": ["ghcr.io"]},
        "teams": {"a": {"owner": "alice"}},
    }
    assert admit.evaluate(ps, request(pod("a"))).denials == ("ghcr.io alice",)


def _problems(tmp_path):
    with pytest.raises(admit.BundleError) as caught:
        load_bundle(tmp_path)
    return [str(p) for p in caught.value.problems]


def test_every_problem_is_reported_in_one_pass_with_file_and_line(tmp_path):
    write_bundle(
        tmp_path,
        {
            "a_syntax.py": "import admit\n\ndef broken(:\n",
            "b_import.py": "import admit\nimport does_not_exist_anywhere\n",
            "c_definition.py": "import admit\n\n@admit.validate('Pod', operations=['PATCH'])\ndef r(request):\n    pass\n",
            "images.py": RULE,
            "admit.yaml": "policies:\n  images:\n    rules:\n      trusted_registry:\n"
            "        parameters:\n          repo_prefix: 5\n          nope: 1\n"
            "      unknown_rule: {}\n  ghost: {}\n",
        },
    )
    assert _problems(tmp_path) == [
        "a_syntax.py:3: syntax_error: invalid syntax",
        "b_import.py:2: import_error: ModuleNotFoundError: No module named 'does_not_exist_anywhere'",
        "c_definition.py:3: definition_error: unknown operations ['PATCH']; use "
        "['CONNECT', 'CREATE', 'DELETE', 'UPDATE'] or '*'",
        "admit.yaml:6: invalid_parameter: parameter 'repo_prefix' of rule images/trusted_registry "
        "expects str, got int 5",
        "admit.yaml:7: invalid_parameter: rule images/trusted_registry has no parameter 'nope' "
        "(its parameters: repo_prefix, max_containers)",
        "admit.yaml:8: unknown_rule: policy images has no rule 'unknown_rule' (rules: trusted_registry)",
        "admit.yaml:9: unknown_policy: no policy 'ghost' in the bundle (policies: images)",
    ]


def test_a_yaml_syntax_error_in_admit_yaml_is_located(tmp_path):
    write_bundle(tmp_path, {"images.py": RULE, "admit.yaml": "policies:\n  images: [\n"})
    [problem] = _problems(tmp_path)
    assert problem.startswith("admit.yaml:3: invalid_yaml:")


def test_wrong_action_in_admit_yaml(tmp_path):
    write_bundle(
        tmp_path, {"images.py": RULE, "admit.yaml": "policies:\n  images:\n    action: deny\n"}
    )
    assert _problems(tmp_path) == [
        "admit.yaml:3: invalid_config: action must be one of enforce, warn, audit, got 'deny'"
    ]


def test_a_directory_without_rules_is_not_a_bundle(tmp_path):
    assert _problems(tmp_path)[0].endswith(
        "empty_bundle: no rules found: declare them with "
        "@admit.validate, @admit.mutate or @admit.decision"
    )
    assert "not_a_bundle" in _problems(tmp_path / "missing")[0]


def test_rules_can_be_disabled(tmp_path):
    write_bundle(
        tmp_path,
        {
            "images.py": RULE + "\n@admit.validate('Pod')\ndef other(request):\n    pass\n",
            "admit.yaml": "policies:\n  images:\n    rules:\n"
            "      trusted_registry: {enabled: false}\n",
        },
    )
    assert [r.name for r in load_bundle(tmp_path).rules] == ["other"]
