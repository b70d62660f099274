"""A referential rule in the running server reads the cluster cache, filled by list+watch from
(recorded) kube-apiserver answers."""

import json
import time

from tests.helpers import recorded_review, write_bundle
from tests.kube.fake_apiserver import FakeAPIServer, recorded
from tests.server.harness import once, start_server

UNIQUE_HOSTS = """
import admit

@admit.validate("networking.k8s.io/v1/Ingress", reads=["networking.k8s.io/v1/Ingress"])
def unique_host(request):
    mine = {rule.host for rule in request.object.spec.rules if rule.host}
    for other in request.cluster.list("networking.k8s.io/v1/Ingress"):
        meta = other.metadata
        if (meta.namespace, meta.name) == (request.namespace, request.name):
            continue
        for rule in other.spec.rules:
            if rule.host in mine:
                yield f"host {rule.host} is already used by ingress {meta.namespace}/{meta.name}"
"""


def ingress_review(host):
    body = recorded_review("36-ingresses-changed-during-watch--01-validate-CREATE")["body"]
    body["request"]["object"]["spec"]["rules"][0]["host"] = host
    return json.dumps(body).encode()


def test_a_referential_rule_reads_the_cached_cluster(tmp_path, tls):
    script = recorded("ingresses-all-namespaces.json", "ingresses-all-namespaces.jsonl")
    with FakeAPIServer({"/apis/networking.k8s.io/v1/ingresses": script}) as api:
        bundle = write_bundle(tmp_path / "bundle", {"hosts.py": UNIQUE_HOSTS})
        server = start_server(
            bundle, tmp_path, "--kubeconfig", str(api.kubeconfig(tmp_path)), tls=tls
        )
        try:
            deadline = time.monotonic() + 10
            while once(server.port, tls, "GET", "/readyz").status != 200:
                assert time.monotonic() < deadline, server.stderr()
                time.sleep(0.05)
            ready = once(server.port, tls, "GET", "/readyz").json()
            assert ready["cache"]["networking.k8s.io/Ingress"]["synced"] is True
            taken = once(server.port, tls, "POST", "/validate", ingress_review("a.example.com"))
            free = once(server.port, tls, "POST", "/validate", ingress_review("new.example.com"))
        finally:
            server.stop()
    assert taken.json()["response"]["status"]["message"] == (
        "host a.example.com is already used by ingress default/web"
    )
    assert free.json()["response"]["allowed"] is True


def test_rules_that_read_an_unreachable_cluster_are_a_clear_usage_error(tmp_path, capsys):
    from tests.cli.test_check import run

    bundle = write_bundle(tmp_path / "bundle", {"hosts.py": UNIQUE_HOSTS})
    code, _, err = run(
        capsys,
        "serve",
        bundle,
        "--self-signed",
        "--tls-dir",
        tmp_path / "tls",
        "--kubeconfig",
        tmp_path / "missing",
    )
    assert code == 2
    assert "rules read networking.k8s.io/v1/Ingress from the cluster, but cannot configure" in err
    assert "--no-cluster-cache" in err


def test_serving_policies_from_configmaps(tmp_path, tls):
    from tests.helpers import SEED
    from tests.kube.fake_apiserver import Script
    from tests.kube.test_sources import _list_with

    rules = {"images.py": (SEED / "trusted_images.py").read_text()}
    script = Script(_list_with(rules), [])
    with FakeAPIServer({"/api/v1/namespaces/default/configmaps": script}) as api:
        server = start_server(
            None,
            tmp_path,
            "--configmaps",
            "example.com/policy=true",
            "--kubeconfig",
            str(api.kubeconfig(tmp_path)),
            tls=tls,
        )
        try:
            deadline = time.monotonic() + 10
            while once(server.port, tls, "GET", "/readyz").status != 200:
                assert time.monotonic() < deadline, server.stderr()
                time.sleep(0.05)
            review = (SEED / "reviews" / "pod-bad-repo.json").read_bytes()
            answer = once(server.port, tls, "POST", "/validate", review).json()["response"]
            ready = once(server.port, tls, "GET", "/readyz").json()
        finally:
            server.stop()
    assert answer["status"]["message"] == "nginx:1.21.1 repo not start with 192.168.64.1"
    assert ready["reload"]["configmaps"]["default/policy-base"]["status"] == "ok"
    assert script.patches  # the outcome was written back to the ConfigMap
