"""On a real cluster: policies from a labelled ConfigMap are served and annotated, and the
cluster cache sees real Ingresses. Runs only when ADMIT_E2E_KUBECONFIG names a cluster."""

import json
import os
import subprocess
import time
import uuid

import pytest

from tests.helpers import SEED, recorded_review, write_bundle
from tests.server.harness import make_tls, once, start_server
from tests.server.test_cluster_cache import UNIQUE_HOSTS, ingress_review

KUBECONFIG = os.environ.get("ADMIT_E2E_KUBECONFIG")
pytestmark = pytest.mark.skipif(
    not KUBECONFIG,
    reason="needs a cluster: set ADMIT_E2E_KUBECONFIG=/path/to/kubeconfig (a disposable cluster, "
    "e.g. kind or k3d; the test creates and deletes a namespace) and run pytest tests/e2e",
)


def kubectl(*args, stdin=None):
    return subprocess.run(
        ["kubectl", "--kubeconfig", KUBECONFIG, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def namespace():
    name = f"admit-e2e-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def tls(tmp_path):
    return make_tls(tmp_path)


def wait_ready(server, tls):
    deadline = time.monotonic() + 60
    while once(server.port, tls, "GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.2)


def test_configmap_policies_are_served_and_annotated(namespace, tmp_path, tls):
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "seed",
            "namespace": namespace,
            "labels": {"admit.dev/policy": "true"},
        },
        "data": {"images.py": (SEED / "trusted_images.py").read_text()},
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(configmap))
    server = start_server(
        None,
        tmp_path,
        "--configmaps",
        "admit.dev/policy=true",
        "--configmap-namespace",
        namespace,
        "--kubeconfig",
        KUBECONFIG,
        tls=tls,
    )
    try:
        wait_ready(server, tls)
        review = recorded_review("02-pod-create-web-server-nginx-1.21.1--02-validate")["body"]
        answer = once(server.port, tls, "POST", "/validate", json.dumps(review).encode()).json()
        assert (
            answer["response"]["status"]["message"]
            == "nginx:1.21.1 repo not start with 192.168.64.1"
        )
        deadline = time.monotonic() + 10
        while True:
            annotations = json.loads(
                kubectl("get", "configmap", "seed", "-n", namespace, "-o", "json")
            )["metadata"].get("annotations", {})
            if "admit.dev/status" in annotations or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert json.loads(annotations["admit.dev/status"])["status"] == "ok"
    finally:
        server.stop()


def test_the_cluster_cache_sees_real_ingresses(namespace, tmp_path, tls):
    ingress = recorded_review("22-ingress-create-two-hosts--01-validate-CREATE")["body"]["request"][
        "object"
    ]
    ingress["metadata"] = {"name": "web", "namespace": namespace}
    kubectl("apply", "-f", "-", stdin=json.dumps(ingress))
    bundle = write_bundle(tmp_path / "bundle", {"hosts.py": UNIQUE_HOSTS})
    server = start_server(bundle, tmp_path, "--kubeconfig", KUBECONFIG, tls=tls)
    try:
        wait_ready(server, tls)
        host = ingress["spec"]["rules"][0]["host"]
        answer = once(server.port, tls, "POST", "/validate", ingress_review(host)).json()
        assert answer["response"]["status"]["message"] == (
            f"host {host} is already used by ingress {namespace}/web"
        )
    finally:
        server.stop()
