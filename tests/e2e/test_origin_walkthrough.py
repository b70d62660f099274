"""The origin's walkthrough on a real cluster: install admit, apply the three pods, uninstall.

The write-up admit comes from registered its webhook and applied three pods with kubectl; two
were refused with its messages and one was created. This test does the same against the
cluster that ADMIT_E2E_KUBECONFIG names (skipped without it):

1. Install admit, in one of two ways (ADMIT_E2E_MODE):
   - `outside` (default): `admit certs --san HOST`, `admit serve examples/seed` on this machine,
     and `admit manifests examples/seed --webhook-url https://HOST:PORT | kubectl apply -f -`.
     HOST (ADMIT_E2E_HOST, default 127.0.0.1) is where kube-apiserver reaches this machine:
     127.0.0.1 serves an apiserver running here; for kind or minikube give this machine's
     address on the cluster's network.
   - `inside`: `admit manifests examples/seed --image IMAGE | kubectl apply -f -` and wait for
     the rollout; IMAGE (ADMIT_E2E_IMAGE) is built from the Dockerfile and pullable by the
     cluster's nodes (`kind load docker-image ...`).
2. `kubectl apply -f examples/seed/pods/<pod>.yaml` for each origin pod, in namespace default:
   - pod-bad-repo.yaml: refused, `nginx:1.21.1 repo not start with 192.168.64.1`;
   - pod-bad-tag.yaml: refused, `192.168.64.1:5000/nginx:latest tag end with :latest`;
   - pod-ok.yaml: `pod/web-server created`.
3. `admit uninstall --run` (webhook configurations first, then the namespace), and the pod
   is deleted.

Use a disposable cluster: the test installs into ADMIT_E2E_NAMESPACE (default admit-e2e) and
creates default/web-server, and refuses to start if that pod exists already.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PODS = ROOT / "examples" / "seed" / "pods"
ORIGIN_PODS = {
    "pod-bad-repo.yaml": "nginx:1.21.1 repo not start with 192.168.64.1",
    "pod-bad-tag.yaml": "192.168.64.1:5000/nginx:latest tag end with :latest",
    "pod-ok.yaml": None,
}
HOW_TO_RUN = (
    "the origin's walkthrough needs a disposable Kubernetes cluster: run "
    "`ADMIT_E2E_KUBECONFIG=~/.kube/config .venv/bin/pytest tests/e2e -v`. By default admit "
    "serves from this machine and the cluster's apiserver must reach it at ADMIT_E2E_HOST "
    "(default 127.0.0.1); or set ADMIT_E2E_MODE=inside and ADMIT_E2E_IMAGE=<image built from "
    "the Dockerfile> to run admit in the cluster"
)


class Cluster:
    """kubectl and admit's CLI against the cluster under test."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}
        self.namespace = namespace

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120):
        return subprocess.run(
            ["kubectl", *args], input=stdin, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def admit(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "admit", *map(str, args)], env=self.env, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"admit {' '.join(map(str, args))}: {done.stderr}"
        return done

    def apply(self, manifests: str) -> None:
        done = self.kubectl("apply", "-f", "-", stdin=manifests)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    kubeconfig = os.environ.get("ADMIT_E2E_KUBECONFIG")
    if not kubeconfig:
        pytest.skip(HOW_TO_RUN)
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH; " + HOW_TO_RUN)
    assert Path(kubeconfig).expanduser().is_file(), f"ADMIT_E2E_KUBECONFIG={kubeconfig}: no such file"  # fmt: skip
    found = Cluster(str(Path(kubeconfig).expanduser()), os.environ.get("ADMIT_E2E_NAMESPACE", "admit-e2e"))  # fmt: skip
    existing = found.kubectl("get", "pod", "web-server", "-n", "default", "--ignore-not-found", "-o", "name")  # fmt: skip
    assert existing.returncode == 0, existing.stderr
    assert not existing.stdout.strip(), "pod default/web-server exists; the walkthrough creates it"
    return found


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until_serving(host: str, port: int, ca: Path, server: subprocess.Popen[str]) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, "admit serve exited"
        try:
            with socket.create_connection((host, port), timeout=2) as raw, context.wrap_socket(raw, server_hostname=host):  # fmt: skip
                return
        except OSError:
            assert time.monotonic() < deadline, f"admit serve is not answering on {host}:{port}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def installed(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """admit installed as the walkthrough says; uninstalled (webhooks first) afterwards."""
    mode = os.environ.get("ADMIT_E2E_MODE", "outside")
    assert mode in ("outside", "inside"), f"ADMIT_E2E_MODE={mode}: use outside or inside"
    seed, namespace = ROOT / "examples" / "seed", cluster.namespace
    server = None
    try:
        if mode == "outside":
            host = os.environ.get("ADMIT_E2E_HOST", "127.0.0.1")
            port = free_port("127.0.0.1" if host == "127.0.0.1" else "0.0.0.0")
            tls, scratch = tmp_path_factory.mktemp("tls"), tmp_path_factory.mktemp("metrics")
            cluster.admit("certs", "-n", namespace, "--out", tls, "--san", host)
            server = subprocess.Popen(
                [sys.executable, "-m", "admit", "serve", str(seed), "--tls-cert", str(tls / "tls.crt"),
                 "--tls-key", str(tls / "tls.key"), "--host", "127.0.0.1" if host == "127.0.0.1" else "0.0.0.0",
                 "--port", str(port), "--workers", "1", "--decision-log", "off",
                 "--metrics-dir", str(scratch)],
                stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            wait_until_serving(host if host != "0.0.0.0" else "127.0.0.1", port, tls / "ca.crt", server)  # fmt: skip
            rendered = cluster.admit(
                "manifests", seed, "-n", namespace, "--webhook-url", f"https://{host}:{port}",
                "--ca-cert", tls / "ca.crt", "--tls-cert", tls / "tls.crt", "--tls-key", tls / "tls.key",
            )  # fmt: skip
            cluster.apply(rendered.stdout)
        else:
            image = os.environ.get("ADMIT_E2E_IMAGE")
            assert image, "ADMIT_E2E_MODE=inside needs ADMIT_E2E_IMAGE (built from the Dockerfile)"
            rendered = cluster.admit("manifests", seed, "-n", namespace, "--image", image, "--replicas", "1")  # fmt: skip
            cluster.apply(rendered.stdout)
            rollout = cluster.kubectl("-n", namespace, "rollout", "status", "deployment/admit", "--timeout=180s", timeout=200)  # fmt: skip
            assert rollout.returncode == 0, rollout.stderr
        wait_until_enforced(cluster)
        yield cluster
    finally:
        cluster.admit("uninstall", "-n", namespace, "--run", timeout=300)
        cluster.kubectl("delete", "-f", str(PODS / "pod-ok.yaml"), "--ignore-not-found")
        if server is not None:
            server.terminate()
            server.wait(30)


def wait_until_enforced(cluster: Cluster) -> None:
    """The apiserver picks up a new webhook configuration within moments; a server-side dry run
    (no side effects) shows when it has."""
    deadline = time.monotonic() + 60
    while True:
        probe = cluster.kubectl("apply", "--dry-run=server", "-f", str(PODS / "pod-bad-tag.yaml"))
        if ORIGIN_PODS["pod-bad-tag.yaml"] in probe.stderr:
            return
        assert time.monotonic() < deadline, f"the webhook does not deny yet: {probe.stderr}"
        time.sleep(1)


@pytest.mark.parametrize(("name", "message"), ORIGIN_PODS.items())
def test_the_origin_pods_are_judged_as_the_origin_did(installed: Cluster, name: str, message: str | None) -> None:  # fmt: skip
    applied = installed.kubectl("apply", "-f", str(PODS / name))
    if message is None:
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.strip() == "pod/web-server created"
    else:
        assert applied.returncode == 1
        assert applied.stdout == ""
        assert f'admission webhook "validate.admit.dev" denied the request: {message}' in applied.stderr  # fmt: skip
