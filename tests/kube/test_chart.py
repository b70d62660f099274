"""The Helm chart renders what `admit manifests` renders, with webhook rules written for its
bundle by `admit manifests --helm-values`."""

import base64

import helm_python as helm
import pytest
import yaml

from admit.kube.chart import files_digest, helm_values
from admit.kube.install import InstallOptions, build_manifests, bundle_files
from admit.kube.webhooks import admission_rules
from admit.loading.loader import load_bundle
from admit.policies import library_path
from tests.helpers import SEED, write_bundle
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
        console_token_secret="admit-console", configmap_sources=True, reads=[("", "namespaces"), ("networking.k8s.io", "ingresses")],
        failure_policy="Ignore", timeout_seconds=3, image="registry.example/admit:1.2",
    ))  # fmt: skip
    rules = {t: admission_rules((r for r in rich.rules if r.type == t), rich.kinds) for t in ("validate", "mutate")}  # fmt: skip
    charted = render_chart(chart_values(
        serving, ca, files, console={"enabled": True, "tokenSecret": "admit-console"}, replicas=1, configmapSources=True,
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


def test_the_chart_refuses_a_webhook_url_ending_in_a_webhook_path(ca):
    values = {"webhookUrl": "https://127.0.0.1:8443/validate/", "tls": {"caCert": ca.cert_pem.decode()}}  # fmt: skip
    with pytest.raises(helm.HelmError, match=r'ends in a webhook path.*give "https://127\.0\.0\.1:8443"'):
        render_chart(values)
    values["webhookUrl"] = "https://gateway.example/admit/"
    [config] = render_chart(values)
    assert config["webhooks"][0]["clientConfig"]["url"] == "https://gateway.example/admit/validate"


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


# --- install follows the bundle: --helm-values -----------------------------------------------

INGRESS_BUNDLE = """
import admit


@admit.validate("Ingress")
def tls_everywhere(request):
    if not request.object.spec.tls:
        yield "an Ingress must terminate TLS"


@admit.validate("networking.k8s.io/v1/Ingress", reads=["networking.k8s.io/v1/Ingress"])
def unique_hosts(request): ...


@admit.validate("v1/Service", operations=["CREATE"])
def no_node_ports(request): ...
"""


@pytest.fixture(scope="module")
def ingress_bundle(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("ingress"), {"ingress.py": INGRESS_BUNDLE})


@pytest.mark.parametrize("which", ["seed", "library", "ingress"])
def test_with_the_values_helm_values_writes_the_chart_renders_what_admit_manifests_renders(
    which, ingress_bundle, ca, serving
):
    root = {"seed": SEED, "library": library_path(), "ingress": ingress_bundle}[which]
    loaded, files = load_bundle(root), bundle_files(root)
    built = build_manifests(loaded, InstallOptions(namespace="pipy", ca=ca, serving=serving, files=files))  # fmt: skip
    charted = render_chart({**helm_values(loaded, files), **chart_values(serving, ca, files)})
    webhooks = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    assert [comparable(o) for o in charted if o["kind"] in webhooks] == [
        comparable(o) for o in built if o["kind"] in webhooks
    ]
    assert sorted(map(comparable, charted), key=repr) == sorted(map(comparable, built), key=repr)


def test_the_ingress_bundle_registers_ingresses_and_services_and_may_watch_ingresses(
    ingress_bundle,
):
    values = helm_values(load_bundle(ingress_bundle), bundle_files(ingress_bundle))
    registered = {
        (group, resource)
        for rule in values["webhooks"]["validate"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert registered == {("networking.k8s.io", "ingresses"), ("", "services")}
    assert values["reads"] == [{"apiGroup": "networking.k8s.io", "resource": "ingresses"}]


def notes(values):
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="admit", namespace="pipy", is_install=True)
    return rendered["admit/templates/NOTES.txt"]


def test_the_chart_warns_when_its_rules_were_not_written_for_its_bundle(ingress_bundle):
    """The seed's default rules with an Ingress bundle: Ingresses would never reach admit."""
    files = bundle_files(ingress_bundle)
    warning = notes({"bundle": {"files": files}})
    assert "WARNING: the webhook rules in values `webhooks` were written for other bundle files" in warning
    assert files_digest(files)[:12] in warning
    assert "admit manifests BUNDLE --helm-values > values.yaml" in warning
    assert "WARNING" not in notes(helm_values(load_bundle(ingress_bundle), files))


def test_the_digest_covers_what_defines_rules_only(ingress_bundle):
    """Data, test cases and documentation cannot change what a bundle's rules match."""
    files = bundle_files(ingress_bundle)
    values = helm_values(load_bundle(ingress_bundle), files)
    values["bundle"]["files"]["README.md"] = "# notes\n"
    assert "WARNING" not in notes(values)
    values["bundle"]["files"]["more.py"] = "import admit\n"
    assert "WARNING" in notes(values)
    seed = {"trusted_images.py": (SEED / "trusted_images.py").read_text()}
    assert "WARNING" not in notes({"bundle": {"files": seed}})  # the default rules are the seed's


def test_with_the_audit_on_the_chart_renders_what_admit_manifests_renders(seed, ca, serving):
    """`--audit-interval`: list/watch of the judged kinds, the reports, and the audit's Lease."""
    files = bundle_files(SEED)
    for api in ("openreports", "wgpolicyk8s"):
        built = build_manifests(seed, InstallOptions(
            namespace="pipy", ca=ca, serving=serving, files=files, audit_interval=60,
            report_api=api,
        ))  # fmt: skip
        values = {**helm_values(seed, files), **chart_values(serving, ca, files)}
        charted = render_chart({**values, "audit": {"interval": 60, "reportApi": api}})
        assert sorted(map(comparable, charted), key=repr) == sorted(map(comparable, built), key=repr)
        assert_valid(charted)
