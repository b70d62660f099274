"""`admit audit`: the existing objects that violate a bundle, listed in pages from a cluster (the
local list server replaying kube-apiserver's recorded lists) or read from files, as a table, JSON
or policy reports."""

import json

import pytest
import yaml

from admit.cli import main
from tests.helpers import FIXTURES, SEED, recorded_review, write_bundle
from tests.kube.fake_apiserver import FakeAPIServer, Script

INGRESS_TLS = '''
import admit


@admit.validate("networking.k8s.io/v1/Ingress", severity="medium", category="Network")
def hosts_have_tls(request):
    """Every host of an Ingress is served over TLS."""
    covered = {host for tls in request.object.spec.tls for host in tls.hosts}
    for i, rule in enumerate(request.object.spec.rules):
        if rule.host and rule.host not in covered:
            yield admit.Violation(f"host {rule.host} is served without TLS", f"spec.rules[{i}].host")


@admit.validate(match=admit.Match.of("Ingress", exclude_groups=["system:masters"]))
def not_for_admins(request):
    return True


@admit.validate("Ingress", operations=["UPDATE"])
def hosts_are_kept(request):
    return True
'''
INGRESSES = "/apis/networking.k8s.io/v1/ingresses"
PODS = "/api/v1/pods"


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def recorded_pod_list():
    """A PodList as kube-apiserver lists it (items without kind and apiVersion), made of the
    pods it stored in the recording: each validating CREATE's object is the stored pod."""
    names = (
        "02-pod-create-web-server-nginx-1.21.1--02-validate",
        "09-pod-create-complex--02-validate",
        "11-deployment-create-web--09-validate-CREATE-pod",
        "26-pod-create-evict-me--02-validate",
        "40-pod-create-nginx-latest--03-validate",
    )
    items = []
    for name in names:
        pod = dict(recorded_review(name)["body"]["request"]["object"])
        del pod["kind"], pod["apiVersion"]
        items.append(pod)
    document = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "900"}}
    return json.dumps({**document, "items": items}).encode()


@pytest.fixture
def cluster(tmp_path):
    scripts = {
        INGRESSES: Script((FIXTURES / "list" / "ingresses-all-namespaces.json").read_bytes(), []),
        PODS: Script(recorded_pod_list(), [], paginate=True),
    }
    with FakeAPIServer(scripts) as server:
        yield server, server.kubeconfig(tmp_path)


def test_audit_of_the_recorded_ingress_list_reports_the_host_without_tls(capsys, tmp_path, cluster):
    server, kubeconfig = cluster
    bundle = write_bundle(tmp_path / "b", {"ingress_tls.py": INGRESS_TLS})
    code, out, err = run(capsys, "audit", bundle, "--kubeconfig", kubeconfig, "-o", "json")
    assert code == 1
    document = json.loads(out)
    [failure] = [r for r in document["results"] if r["result"] == "fail"]
    assert failure["resource"] == {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "namespace": "default", "name": "web",
    }  # fmt: skip
    assert failure["message"] == "host b.example.com is served without TLS"
    assert failure["path"] == "spec.rules[1].host"
    assert document["not_audited"] == [
        {"rule": "ingress-tls/not_for_admins",
         "reason": "it matches on users or groups, and an existing object has no requesting user"},
        {"rule": "ingress-tls/hosts_are_kept",
         "reason": "it judges only UPDATE requests, not objects as they stand"},
    ]  # fmt: skip
    assert "admit: rule ingress-tls/not_for_admins is not audited: it matches on users" in err
    assert "admit: audited 1 ingresses.networking.k8s.io" in err
    assert server.scripts[INGRESSES].requests[0]["limit"] == ["500"]


def test_a_pod_rule_audits_pods_in_pages_and_the_workloads_that_template_them(
    capsys, tmp_path, cluster
):
    server, kubeconfig = cluster
    code, out, err = run(capsys, "audit", SEED, "--kubeconfig", kubeconfig)
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "5 resources checked: 5 pass, 5 fail"
    assert sum("nginx:latest tag end with :latest" in line for line in lines) == 2
    assert any("Pod default/complex" in line and "busybox:1.36 repo not start" in line
               for line in lines)  # fmt: skip
    pages = server.scripts[PODS].requests
    assert [p.get("continue") for p in pages] == [None]  # 5 pods fit in one page of 500
    # the workloads whose templates the Pod rules judge are listed too (the fake has none)
    assert "admit: audited 0 deployments.apps" in err
    assert "admit: audited 0 cronjobs.batch" in err


def test_pages_are_followed_to_the_end(tmp_path, cluster):
    import asyncio

    from admit.core.kinds import ApiResource
    from admit.kube.api import connect
    from admit.kube.inventory import list_pages

    server, kubeconfig = cluster
    pods = ApiResource("", "v1", "Pod", "pods", True)

    async def pages():
        client = connect(kubeconfig)
        try:
            return [[p["metadata"]["name"] for p in items]
                    async for items, _ in list_pages(client, pods, limit=2)]  # fmt: skip
        finally:
            await client.aclose()

    assert asyncio.run(pages()) == [
        ["web-server", "complex"], ["web-5b8888879c-cdgzd", "evict-me"], ["nginx-latest"],
    ]  # fmt: skip
    assert [p.get("continue") for p in server.scripts[PODS].requests] == [None, ["2"], ["4"]]


def test_audit_reports_validate_against_the_openreports_crd(
    capsys, tmp_path, cluster
):
    from tests.kube.report_schemas import problems

    _, kubeconfig = cluster
    _, out, _ = run(capsys, "audit", SEED, "--kubeconfig", kubeconfig, "-o", "report")
    documents = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"]["namespace"]) for d in documents] == [("Report", "default")]
    [report] = documents
    assert problems(report, "openreports") == []
    assert report["summary"] == {"pass": 5, "fail": 5, "warn": 0, "error": 0, "skip": 0}
    assert {(r["resources"][0]["name"], r["rule"]) for r in report["results"]} == {
        ("web-server", "trusted_registry"),
        ("complex", "trusted_registry"),
        ("web-5b8888879c-cdgzd", "disallow_latest_tag"),
        ("nginx-latest", "trusted_registry"),
        ("nginx-latest", "disallow_latest_tag"),
    }
    [uid] = {r["resources"][0]["uid"] for r in report["results"]
             if r["resources"][0]["name"] == "complex"}  # fmt: skip
    assert uid == recorded_review("09-pod-create-complex--02-validate")["body"]["request"]["object"]["metadata"]["uid"]


def test_audit_of_files_needs_no_cluster(capsys):
    code, out, _ = run(capsys, "audit", SEED, FIXTURES / "manifests" / "deployment-web.yaml",
                       "-o", "report", "--report-api", "wgpolicyk8s")  # fmt: skip
    from tests.kube.report_schemas import problems

    [report] = list(yaml.safe_load_all(out))
    assert code == 1
    assert (report["apiVersion"], report["kind"]) == ("wgpolicyk8s.io/v1alpha2", "PolicyReport")
    assert problems(report, "wgpolicyk8s") == []
    [result] = report["results"]
    assert (result["policy"], result["rule"], result["result"]) == (
        "trusted-images", "disallow_latest_tag", "fail",
    )  # fmt: skip
    assert result["properties"]["path"] == "spec.template.spec.containers[1].image"


def test_without_cluster_access_audit_says_how_to_get_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run(capsys, "audit", SEED)
    assert code == 2
    assert "auditing the cluster needs access to it" in err
    assert "give --kubeconfig, or PATHS to audit files instead" in err
