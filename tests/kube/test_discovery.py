"""A cluster's discovery: the kinds it serves, and `admit kinds`, which prints its custom
resources as the `kinds:` of admit.yaml.

No discovery document was recorded from the fixtures' kube-apiserver, so the documents below
are written from the API reference of `apidiscovery.k8s.io/v2` (APIGroupDiscoveryList), and
served by a real local HTTP server through the real client."""

import json

import pytest
import yaml

import admit
from admit.kube.discovery import ACCEPT, DiscoveryError, custom, declarations, resources_of
from admit.loading.builtin_kinds import builtin_kinds
from admit.loading.loader import load_bundle
from tests.cli.test_check import run
from tests.helpers import write_bundle
from tests.kube.fake_apiserver import FakeAPIServer, Script


def group(name, *versions):
    return {"metadata": {"name": name}, "versions": [{"version": v, "resources": r} for v, r in versions]}  # fmt: skip


def resource(plural, group_, version, kind, scope="Namespaced", **subresources):
    return {
        "resource": plural,
        "responseKind": {"group": group_, "version": version, "kind": kind},
        "scope": scope,
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        "subresources": [
            {"subresource": name, "responseKind": dict(zip(("group", "version", "kind"), sent, strict=True)), "verbs": ["get", "patch", "update"]}
            for name, sent in subresources.items()
        ],
    }


def listing(*groups):
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": list(groups)}  # fmt: skip


CORE = listing(group("", ("v1", [resource("pods", "", "v1", "Pod", ephemeralcontainers=("", "v1", "Pod"), exec=("", "v1", "PodExecOptions"))])))  # fmt: skip
CRONTABS = [
    resource("crontabs", "stable.example.com", version, "CronTab", status=("stable.example.com", version, "CronTab"), scale=("autoscaling", "v1", "Scale"))
    for version in ("v1", "v1beta1")
]
APIS = listing(
    group("apps", ("v1", [resource("deployments", "apps", "v1", "Deployment", scale=("autoscaling", "v1", "Scale"))])),
    group("stable.example.com", ("v1", CRONTABS[:1]), ("v1beta1", CRONTABS[1:])),
    group("tenancy.example.com", ("v1alpha1", [resource("tenants", "tenancy.example.com", "v1alpha1", "Tenant", scope="Cluster")])),
)


@pytest.fixture
def cluster(tmp_path):
    scripts = {
        "/api": Script(json.dumps(CORE).encode(), []),
        "/apis": Script(json.dumps(APIS).encode(), []),
    }
    with FakeAPIServer(scripts) as api:
        yield api, api.kubeconfig(tmp_path)


def test_discovery_reads_every_kind_with_its_plural_scope_and_subresources():
    found = {str(r): r for r in resources_of(CORE, "/api") + resources_of(APIS)}
    assert set(found) == {"v1/Pod", "apps/v1/Deployment", "stable.example.com/v1/CronTab", "stable.example.com/v1beta1/CronTab", "tenancy.example.com/v1alpha1/Tenant"}  # fmt: skip
    assert dict(found["apps/v1/Deployment"].subresources) == {"scale": ("autoscaling", "v1", "Scale")}
    assert not found["tenancy.example.com/v1alpha1/Tenant"].namespaced
    assert [r.kind for r in custom(found.values(), builtin_kinds())] == ["CronTab", "CronTab", "Tenant"]


def test_a_cluster_without_aggregated_discovery_is_a_clear_error():
    legacy = {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
    with pytest.raises(DiscoveryError, match=r"needs Kubernetes 1\.26 or later"):
        resources_of(legacy)


def test_admit_kinds_prints_the_custom_resources_for_admit_yaml(capsys, cluster, tmp_path):
    api, kubeconfig = cluster
    code, out, err = run(capsys, "kinds", "--kubeconfig", kubeconfig)
    assert code == 0, err
    assert yaml.safe_load(out) == {"kinds": declarations(custom(resources_of(CORE) + resources_of(APIS), builtin_kinds()))}  # fmt: skip
    assert yaml.safe_load(out)["kinds"][0] == {
        "group": "stable.example.com", "versions": ["v1", "v1beta1"], "kind": "CronTab",
        "plural": "crontabs", "scope": "Namespaced", "subresources": ["scale", "status"],
    }
    assert api.scripts["/apis"].headers[0]["Accept"] == ACCEPT
    # What it prints is what admit.yaml takes: a rule may now name the cluster's kinds.
    rule = "import admit\n\n@admit.validate('CronTab/scale', 'Tenant')\ndef r(request): ...\n"
    loaded = load_bundle(write_bundle(tmp_path / "b", {"r.py": rule, "admit.yaml": out}))
    [crontab, tenant] = loaded.rules[0].match.kinds
    assert (crontab.resources, tenant.resources) == ({("stable.example.com", "crontabs")}, {("tenancy.example.com", "tenants")})  # fmt: skip


def test_admit_kinds_filters_by_group(capsys, cluster):
    _, kubeconfig = cluster
    code, out, _ = run(capsys, "kinds", "--kubeconfig", kubeconfig, "--group", "tenancy.example.com")
    assert code == 0
    assert [e["kind"] for e in yaml.safe_load(out)["kinds"]] == ["Tenant"]


def test_discovered_kinds_can_be_handed_to_the_loader(tmp_path):
    rule = "import admit\n\n@admit.validate('Tenant')\ndef r(request): ...\n"
    bundle = write_bundle(tmp_path, {"r.py": rule})
    with pytest.raises(admit.BundleError, match="unknown kind 'Tenant'"):
        load_bundle(bundle)
    loaded = load_bundle(bundle, kinds=resources_of(APIS))
    assert loaded.rules[0].match.kinds[0].resources == {("tenancy.example.com", "tenants")}


def test_admit_kinds_without_a_cluster_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = run(capsys, "kinds")
    assert code == 2
    assert "cannot configure access to the cluster" in err
