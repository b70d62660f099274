"""--set, --config, library: names and --message-format beyond `admit check`: in `admit test`,
`admit manifests` and through the real webhook (two workers, real TLS)."""


import xmlschema
import yaml

from tests.cli.test_check import run
from tests.cli.test_check_formats import SCHEMAS
from tests.helpers import SEED, recorded_review, wire_bytes, write_bundle
from tests.server.harness import start_server

CASES = """\
cases:
- name: the origin's pod passes
  resource: {file: pods/pod-ok.yaml}
  expect: {trusted-images: pass}
"""


def test_admit_test_runs_the_library_by_name_and_valid_junit(capsys):
    code, out, _ = run(capsys, "test", "library:top5", "-o", "junit")
    assert code == 0
    xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd")).validate(out)


def test_admit_test_cases_see_parameters_from_the_command_line(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {
            "trusted_images.py": (SEED / "trusted_images.py").read_text(),
            "pods/pod-ok.yaml": (SEED / "pods" / "pod-ok.yaml").read_text(),
            "tests/ok_test.yaml": CASES.replace("pods/", "../pods/"),
        },
    )
    assert run(capsys, "test", bundle)[0] == 0
    code, out, _ = run(capsys, "test", bundle, "--set", "trusted-images.repo_prefix=docker.io")
    assert code == 1
    assert "repo not start with docker.io" in out


def test_manifests_write_the_overrides_into_the_bundles_admit_yaml(capsys, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("policies:\n  trusted-images:\n    rules:\n      disallow_latest_tag:\n"
                      "        parameters: {tag_suffix: ':edge'}\n")  # fmt: skip
    code, out, _ = run(capsys, "manifests", SEED, "-n", "pipy", "--config", values,
                       "--set", "trusted-images.repo_prefix=registry.example.com")  # fmt: skip
    assert code == 0
    [configmap] = [
        o for o in yaml.safe_load_all(out) if o["kind"] == "ConfigMap" and "admit.yaml" in o["data"]
    ]
    assert yaml.safe_load(configmap["data"]["admit.yaml"]) == {
        "policies": {
            "trusted-images": {
                "rules": {"disallow_latest_tag": {"parameters": {"tag_suffix": ":edge"}}},
                "parameters": {"repo_prefix": "registry.example.com"},
            }
        }
    }
    assert "#   --set trusted-images.repo_prefix=registry.example.com" in configmap["data"]["admit.yaml"]
    code, _, err = run(capsys, "manifests", SEED, "-n", "pipy", "--set", "trusted-images.nope=1")
    assert code == 3
    assert "no rule of policy trusted-images has a parameter 'nope'" in err


def test_the_webhook_words_denials_by_message_format_and_serves_set_parameters(tmp_path):
    review = recorded_review("02-pod-create-web-server-nginx-1.21.1--02-validate-CREATE")
    body = wire_bytes(review)
    with start_server(
        SEED, tmp_path, "--message-format", "[{policy}/{rule}] {message}",
        "--set", "trusted-images.repo_prefix=docker.io/library", workers=2,
    ) as server:  # fmt: skip
        messages = set()
        for _ in range(12):  # fresh connections: both workers answer some
            with server.client() as client:
                answer = client.post("/validate", body).json()["response"]
            messages.add(answer["status"]["message"])
        assert messages == {
            "[trusted-images/trusted_registry] nginx:1.21.1 repo not start with docker.io/library"
        }


def test_the_webhook_refuses_a_set_the_bundle_cannot_take(capsys, tmp_path):
    code, _, err = run(
        capsys, "serve", SEED, "--self-signed", "--tls-dir", tmp_path / "tls",
        "--set", "trusted-images.repo_prefixx=x",
    )  # fmt: skip
    assert code == 3
    assert "--set trusted-images.repo_prefixx=x: unknown_parameter" in err


def test_serving_configmaps_with_set_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(
        capsys, "serve", "--configmaps", "admit.dev/policy=true", "--self-signed",
        "--tls-dir", tmp_path / "tls", "--set", "p.x=1",
    )  # fmt: skip
    assert code == 2
    assert "with --configmaps, set parameters in each ConfigMap's admit.yaml" in err


