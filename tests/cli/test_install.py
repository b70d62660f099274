"""`admit certs`, `admit manifests` and `admit uninstall`: the origin's install, end to end
short of a cluster."""

import base64
import os
import stat

import pytest
import yaml
from click.testing import CliRunner

from admit.cli import cli
from admit.core.match import LabelSelector
from admit.kube.certs import fingerprint, make_ca, make_serving_cert, service_names, write_pair
from tests.cli.test_check import run
from tests.helpers import SEED, write_bundle
from tests.kube.rendering import assert_valid, by_kind, verify_for


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """`admit certs -n pipy` output, also valid for 127.0.0.1 (an outside-the-cluster server)."""
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca()
    write_pair(ca, directory, "ca")
    write_pair(make_serving_cert(ca, [*service_names("admit", "pipy"), "127.0.0.1"]), directory, "tls")  # fmt: skip
    return directory


def given(tls):
    return ["--ca-cert", tls / "ca.crt", "--tls-cert", tls / "tls.crt", "--tls-key", tls / "tls.key"]  # fmt: skip


@pytest.fixture(scope="module")
def seed_objects(tls):
    """`admit manifests examples/seed --namespace pipy` with the certificates of `admit certs`."""
    result = CliRunner().invoke(cli, ["manifests", str(SEED), "--namespace", "pipy", *map(str, given(tls))])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def manifests_of(capsys, *args):
    code, out, err = run(capsys, "manifests", SEED, "--namespace", "pipy", *args)
    assert code == 0, err
    return [doc for doc in yaml.safe_load_all(out) if doc]


# --- admit certs ----------------------------------------------------------------------------


def test_certs_writes_a_ca_and_a_serving_pair_and_shows_the_fingerprint(capsys, tmp_path):
    out = tmp_path / "tls"
    code, text, _ = run(capsys, "certs", "--namespace", "pipy", "--out", out, "--san", "127.0.0.1")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    assert stat.S_IMODE((out / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600
    assert fingerprint((out / "tls.crt").read_bytes()) in text
    assert f"wrote {out / 'tls.crt'}" in text
    assert "admit.pipy.svc, admit.pipy.svc.cluster.local, admit.pipy, admit, 127.0.0.1" in text
    ca_b64 = base64.b64encode((out / "ca.crt").read_bytes())
    verify_for(ca_b64, (out / "tls.crt").read_bytes(), "admit.pipy.svc")


def test_certs_will_not_replace_a_ca_without_force(capsys, tmp_path):
    out = tmp_path / "tls"
    assert run(capsys, "certs", "-n", "pipy", "--out", out)[0] == 0
    before = (out / "ca.crt").read_bytes()
    code, _, err = run(capsys, "certs", "-n", "pipy", "--out", out)
    assert code == 2
    assert "pass --force" in err
    assert (out / "ca.crt").read_bytes() == before
    assert run(capsys, "certs", "-n", "pipy", "--out", out, "--force")[0] == 0
    assert (out / "ca.crt").read_bytes() != before


def test_certs_signs_with_a_given_ca_and_leaves_its_key_where_it_is(capsys, tmp_path, tls):
    out = tmp_path / "renewed"
    code, text, _ = run(capsys, "certs", "-n", "pipy", "--out", out, "--ca-cert", tls / "ca.crt", "--ca-key", tls / "ca.key")  # fmt: skip
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert (out / "ca.crt").read_bytes() == (tls / "ca.crt").read_bytes()
    assert fingerprint((tls / "ca.crt").read_bytes()) in text


# --- admit manifests ------------------------------------------------------------------------


def test_the_seed_manifests_pass_the_kubernetes_schemas(seed_objects):
    objects = seed_objects
    assert_valid(objects)
    kinds = [o["kind"] for o in objects]
    assert (kinds[0], kinds[-1]) == ("Namespace", "ValidatingWebhookConfiguration")


def test_the_secret_certificate_verifies_against_the_ca_bundle_for_the_service(seed_objects):
    found = by_kind(seed_objects)
    verify_for(
        found["ValidatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["caBundle"],
        base64.b64decode(found["Secret"]["data"]["tls.crt"]),
        "admit.pipy.svc",
    )


def test_the_namespace_selector_selects_default_but_not_pipy_or_kube_system(seed_objects):
    hook = by_kind(seed_objects)["ValidatingWebhookConfiguration"]["webhooks"][0]
    selector = LabelSelector.parse(hook["namespaceSelector"])
    assert selector.matches({"kubernetes.io/metadata.name": "default"})
    assert not selector.matches({"kubernetes.io/metadata.name": "pipy"})
    assert not selector.matches({"kubernetes.io/metadata.name": "kube-system"})


def test_the_seed_renders_one_validating_webhook_for_pods_and_workloads(seed_objects):
    found = by_kind(seed_objects)
    assert "MutatingWebhookConfiguration" not in found
    rules = found["ValidatingWebhookConfiguration"]["webhooks"][0]["rules"]
    resources = {r for rule in rules for r in rule["resources"]}
    assert {"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"} <= resources  # fmt: skip
    assert {tuple(rule["operations"]) for rule in rules} == {("CREATE", "UPDATE")}


def test_the_output_is_what_was_built_and_round_trips(capsys, tls):
    code, out, _ = run(capsys, "manifests", SEED, "-n", "pipy", *given(tls))
    assert code == 0
    assert out.startswith("---\napiVersion: v1\nkind: Namespace\n")
    assert 'trusted_images.py: |\n    """The origin\'s rule' in out  # bundle files read as files
    data = by_kind(yaml.safe_load_all(out))["ConfigMap"]["data"]
    assert data["trusted_images.py"] == (SEED / "trusted_images.py").read_text()


def test_fresh_certificates_are_made_when_none_are_given(capsys):
    code, out, err = run(capsys, "manifests", SEED, "-n", "pipy")
    assert code == 0
    assert "made a new CA and serving certificate" in err
    found = by_kind(yaml.safe_load_all(out))
    verify_for(
        found["ValidatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["caBundle"],
        base64.b64decode(found["Secret"]["data"]["tls.crt"]),
        "admit.pipy.svc",
    )


def test_a_webhook_url_renders_url_client_configs_for_a_server_outside(capsys, tls):
    objects = manifests_of(capsys, "--webhook-url", "https://127.0.0.1:8443", *given(tls))
    assert [o["kind"] for o in objects] == ["Namespace", "ValidatingWebhookConfiguration"]
    config = objects[1]["webhooks"][0]["clientConfig"]
    assert config["url"] == "https://127.0.0.1:8443/validate"
    assert "service" not in config
    assert_valid(objects)
    ca_only = manifests_of(capsys, "--webhook-url", "https://127.0.0.1:8443", "--ca-cert", tls / "ca.crt")  # fmt: skip
    assert ca_only == objects


@pytest.mark.parametrize("path", ["/validate", "/mutate/", "/admit/validate"])
def test_a_webhook_url_ending_in_a_webhook_path_is_refused_with_the_base_url(capsys, tls, path):
    """admit adds /validate itself: `https://H:P/validate` would register .../validate/validate,
    a 404 on which every write fails."""
    base = "https://127.0.0.1:8443" + path.rstrip("/").rpartition("/")[0]
    code, out, err = run(capsys, "manifests", SEED, "-n", "pipy", "--webhook-url", f"https://127.0.0.1:8443{path}", "--ca-cert", tls / "ca.crt")  # fmt: skip
    assert (code, out) == (2, "")
    assert "ends in a webhook path" in err
    assert f"give {base!r}" in err


def test_a_webhook_url_with_a_path_prefix_keeps_it(capsys, tls):
    objects = manifests_of(capsys, "--webhook-url", "https://127.0.0.1:8443/admit/", "--ca-cert", tls / "ca.crt")  # fmt: skip
    assert objects[1]["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:8443/admit/validate"


def test_helm_values_hold_the_bundle_its_webhook_rules_and_reads(capsys):
    code, out, err = run(capsys, "manifests", SEED, "--helm-values")
    assert code == 0, err
    assert out.startswith("# Values for the admit Helm chart")
    values = yaml.safe_load(out)
    assert set(values) == {"bundle", "webhooks", "reads", "auditReads"}
    assert {"apiGroup": "", "resource": "pods"} in values["auditReads"]  # for audit.interval
    assert values["bundle"]["files"]["trusted_images.py"] == (SEED / "trusted_images.py").read_text()
    [rule, *_] = values["webhooks"]["validate"]["rules"]
    assert "pods/ephemeralcontainers" in rule["resources"]
    assert values["webhooks"]["mutate"]["rules"] == []
    assert len(values["webhooks"]["bundleDigest"]) == 64


def test_manifests_still_needs_a_namespace_without_helm_values(capsys):
    code, _, err = run(capsys, "manifests", SEED)
    assert code == 2
    assert "Missing option '-n' / '--namespace'" in err


def test_a_webhook_url_needs_the_ca_and_a_certificate_for_its_host(capsys, tls):
    code, _, err = run(capsys, "manifests", SEED, "-n", "pipy", "--webhook-url", "https://127.0.0.1:8443")  # fmt: skip
    assert code == 2
    assert "need --ca-cert" in err
    code, _, err = run(capsys, "manifests", SEED, "-n", "pipy", "--webhook-url", "https://10.1.2.3:8443", *given(tls))  # fmt: skip
    assert code == 2
    assert "does not cover 10.1.2.3" in err


def test_a_timeout_over_ten_seconds_is_refused(capsys, tls):
    code, out, err = run(capsys, "manifests", SEED, "-n", "pipy", "--timeout-seconds", "11", *given(tls))  # fmt: skip
    assert code == 2
    assert out == ""
    assert "'--timeout-seconds': 11 is not in the range 1<=x<=10" in err


def test_a_certificate_for_another_namespace_is_refused(capsys, tls):
    code, out, err = run(capsys, "manifests", SEED, "-n", "other", *given(tls))
    assert code == 2
    assert out == ""
    assert "admit: the serving certificate does not cover admit.other.svc" in err


def test_the_default_namespace_is_refused(capsys):
    code, _, err = run(capsys, "manifests", SEED, "-n", "default")
    assert code == 2
    assert "install admit in a namespace of its own" in err


def test_a_broken_bundle_exits_3(capsys, tmp_path, tls):
    bundle = write_bundle(tmp_path / "b", {"p.py": "import admit\nx = (\n"})
    code, out, err = run(capsys, "manifests", bundle, "-n", "pipy", *given(tls))
    assert code == 3
    assert out == ""
    assert "p.py:2: syntax_error" in err


def test_the_help_shows_how_to_install(capsys):
    code, out, _ = run(capsys, "manifests", "--help")
    assert code == 0
    assert "| kubectl apply -f -" in out
    assert "--webhook-url" in out


# --- admit uninstall ------------------------------------------------------------------------


def test_uninstall_deletes_the_webhook_configurations_before_the_namespace(capsys):
    code, out, _ = run(capsys, "uninstall", "--namespace", "pipy")
    assert code == 0
    assert out == (
        "kubectl delete --ignore-not-found validatingwebhookconfiguration/admit.pipy "
        "mutatingwebhookconfiguration/admit.pipy && \\\n"
        "  kubectl delete --ignore-not-found clusterrolebinding/admit.pipy clusterrole/admit.pipy "
        "namespace/pipy\n"
    )
    assert out.index("validatingwebhookconfiguration/") < out.index("namespace/pipy")


def test_uninstall_names_what_manifests_created(capsys, tls):
    objects = manifests_of(capsys, "--configmaps", *given(tls))
    _, out, _ = run(capsys, "uninstall", "-n", "pipy")
    for obj in objects:
        if "namespace" not in obj["metadata"]:  # cluster-scoped: not deleted with the namespace
            assert f"{obj['kind'].lower()}/{obj['metadata']['name']}" in out


@pytest.fixture
def fake_kubectl(tmp_path, monkeypatch):
    """A `kubectl` on PATH that logs its arguments and fails when told to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    script = bin_dir / "kubectl"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *"$FAIL_ON"*) exit 7;; esac\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAIL_ON", "no-such-thing")
    return log


def test_uninstall_run_runs_kubectl_webhooks_first(capsys, fake_kubectl):
    code, _, err = run(capsys, "uninstall", "-n", "pipy", "--run")
    assert code == 0
    calls = fake_kubectl.read_text().splitlines()
    assert calls[0].startswith(
        "delete --ignore-not-found validatingwebhookconfiguration/admit.pipy"
    )
    assert calls[1].endswith("namespace/pipy")
    assert "+ kubectl delete" in err


def test_uninstall_run_keeps_the_namespace_when_the_webhooks_cannot_be_deleted(capsys, fake_kubectl, monkeypatch):  # fmt: skip
    monkeypatch.setenv("FAIL_ON", "validatingwebhookconfiguration")
    code, _, _ = run(capsys, "uninstall", "-n", "pipy", "--run")
    assert code == 7
    assert len(fake_kubectl.read_text().splitlines()) == 1


def test_uninstall_refuses_namespaces_admit_is_never_installed_in(capsys):
    code, _, err = run(capsys, "uninstall", "-n", "kube-system")
    assert code == 2
    assert "namespace of its own" in err
