"""The Helm chart renders what `admit manifests` renders, with webhook rules written for its
bundle by `admit manifests --helm-values`."""

import base64

import helm_python as helm
import pytest
import yaml

from admit.kube.manifests import InstallOptions, build_manifests, bundle_files
from admit.kube.webhooks import admission_rules
from admit.loading.loader import load_bundle
from tests.helpers import SEED
from tests.kube.rendering import (
    CHART,
    RICH_FILES,
    assert_valid,
    by_kind,
    chart_values,
    comparable,
    render_chart,
    verify_for,
)


def test_the_chart_renders_what_admit_manifests_renders(seed, options, ca, serving):
    charted = render_chart(chart_values(serving, ca, bundle_files(SEED)))
    built = build_manifests(seed, options)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, charted)) == sorted(map(key, built))
    charted_by_key = {key(o): comparable(o) for o in charted}
    for obj in built:
        assert charted_by_key[key(obj)] == comparable(obj), key(obj)
    assert_valid(charted)


def test_the_chart_renders_the_options_like_admit_manifests(rich, ca, serving):
    files = {**RICH_FILES, "lib/util.py": "X = 1\n"}
    built = build_manifests(rich, InstallOptions(
        namespace="pipy", ca=ca, serving=serving, files=files, console=True, replicas=1,
        configmap_sources=True, reads=[("", "namespaces"), ("networking.k8s.io", "ingresses")],
        failure_policy="Ignore", timeout_seconds=3, image="registry.example/admit:1.2",
    ))  # fmt: skip
    rules = {t: admission_rules((r for r in rich.rules if r.type == t), rich.kinds) for t in ("validate", "mutate")}  # fmt: skip
    charted = render_chart(chart_values(
        serving, ca, files, console={"enabled": True}, replicas=1, configmapSources=True,
        reads=[{"apiGroup": "", "resource": "namespaces"}, {"apiGroup": "networking.k8s.io", "resource": "ingresses"}],
        failurePolicy="Ignore", timeoutSeconds=3,
        image={"repository": "registry.example/admit", "tag": "1.2", "pullPolicy": "IfNotPresent"},
        webhooks={"validate": {"rules": rules["validate"]}, "mutate": {"rules": rules["mutate"]}},
    ))  # fmt: skip
    assert sorted(map(comparable, charted), key=repr) == sorted(map(comparable, built), key=repr)


def test_helm_lint_finds_nothing_worse_than_a_missing_icon():
    result = helm.lint(str(CHART), {"bundle": {"files": {"a.py": ""}}}, namespace="pipy", strict=True)  # fmt: skip
    assert result["errors"] == []
    assert {m["error"] for m in result["messages"]} <= {"icon is recommended"}


def test_the_chart_default_rules_are_the_seed_rules():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    seed = load_bundle(SEED)
    assert values["webhooks"]["validate"]["rules"] == admission_rules(seed.rules, seed.kinds)
    assert values["webhooks"]["mutate"]["rules"] == []


def test_the_chart_makes_a_certificate_the_ca_bundle_verifies_when_given_none():
    found = by_kind(render_chart({"bundle": {"files": {"a.py": "import admit\n"}}}))
    verify_for(
        found["ValidatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["caBundle"],
        base64.b64decode(found["Secret"]["data"]["tls.crt"]),
        "admit.pipy.svc",
    )
    assert "Namespace" not in found  # helm install --create-namespace makes it


def test_the_chart_with_a_webhook_url_renders_only_the_webhooks(ca):
    found = render_chart({"webhookUrl": "https://127.0.0.1:8443", "tls": {"caCert": ca.cert_pem.decode()}})  # fmt: skip
    assert list(by_kind(found)) == ["ValidatingWebhookConfiguration"]
    assert found[0]["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:8443/validate"


@pytest.mark.parametrize(
    ("values", "namespace", "message"),
    [
        ({"timeoutSeconds": 11}, "pipy", "timeoutSeconds"),
        ({}, "pipy", "no policy bundle"),
        ({"bundle": {"files": {"a.py": ""}}}, "default", "namespace of its own"),
    ],
)
def test_the_chart_refuses_what_admit_manifests_refuses(values, namespace, message):
    with pytest.raises(helm.HelmError, match=message):
        render_chart(values, namespace=namespace)
