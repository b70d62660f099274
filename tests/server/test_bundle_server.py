"""Bundles from a bundle server, as OPA's bundle plugin downloads them: a real `admit serve
--bundle-url` polling a tarball on a local HTTP server (with ETags), swapping in each new
revision within the poll interval, keeping the last good one when a download or a bundle is
bad, and refusing unsigned bundles when it has a verification key."""

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from admit.loading.signing import sign
from admit.loading.tarball import MANIFEST, SIGNATURES, pack
from tests.console.test_console_server import console_get
from tests.helpers import SEED, recorded_review, wire_bytes
from tests.server.harness import free_port, start_server
from tests.server.local_http import BundleHost

RULES = (SEED / "trusted_images.py").read_text()
DELAY = ("--bundle-delay", "0.2", "0.4")
BAD_TAG = "04-pod-create-web-server-registry-latest--02-validate-CREATE"  # 192.168.64.1:5000/nginx:latest


def bundle(revision: str, rules: str = RULES) -> list[tuple[str, bytes]]:
    return [("trusted_images.py", rules.encode()), (MANIFEST, json.dumps({"revision": revision}).encode())]


def readyz(server):
    return server.client().request("GET", "/readyz")


def until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def served_revision(server):
    """The revision every worker serves (None while they switch, or serve none)."""
    answer = readyz(server)
    if answer.status != 200:
        return None
    body = answer.json()
    serving = {w["digest"] for w in body["workers"] if w["state"] == "serving"}
    return body["bundle"]["revision"] if serving == {body["bundle"]["digest"]} else None


def rollout(port):
    """What the console shows of the rollout (its header names the served revision)."""
    try:
        status, body = console_get(port, "/api/rollout")
    except OSError:  # the console process is still starting
        return {"revision": {}}
    return json.loads(body) if status == 200 else {"revision": {}}


def allowed(server, name=BAD_TAG):
    return server.client().request("POST", "/validate", wire_bytes(recorded_review(name))).json()["response"]["allowed"]


@pytest.fixture
def host():
    served = BundleHost(free_port()).start()
    yield served
    served.stop()


def test_a_new_revision_is_served_within_the_poll_interval_and_a_bad_one_keeps_the_last_good(host, tmp_path, tls):
    host.publish(pack(bundle("v1")))
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    console = free_port()
    server = start_server(None, tmp_path, "--bundle-url", host.url, *DELAY, "--bundle-token-file", str(token),
                          "--console-port", str(console), workers=2, tls=tls)  # fmt: skip
    try:
        assert until(lambda: served_revision(server) == "v1")
        assert allowed(server) is False  # the seed's rules deny :latest
        body = readyz(server).json()
        assert body["bundle"]["bundles"] == {"authz": {"revision": "v1"}}
        assert body["reload"]["bundle_server"]["url"] == host.url
        assert host.requests[0]["Authorization"] == "Bearer s3cret-token"
        until(lambda: len(host.requests) >= 3)
        assert host.requests[-1]["If-None-Match"]  # polls after the first ask for a change only

        relaxed = RULES.replace('tag_suffix: str = ":latest"', 'tag_suffix: str = ":never"')
        host.publish(pack(bundle("v2", relaxed)))
        changed = time.monotonic()
        assert until(lambda: served_revision(server) == "v2")
        assert time.monotonic() - changed < 5  # polls every 0.2-0.4 s; the load takes the rest
        assert allowed(server) is True
        assert until(lambda: (rollout(console)["revision"] or {}).get("revision") == "v2")

        host.publish(b"\x1f\x8b this is no tarball")
        error = until(lambda: readyz(server).json()["reload"]["last_error"])
        assert "not a .tar.gz bundle" in error["problems"][0]
        assert served_revision(server) == "v2"
        assert allowed(server) is True

        host.publish(pack(bundle("v3", "import admit\n\ndef broken(:\n")))
        error = until(lambda: (e := readyz(server).json()["reload"]["last_error"]) and "syntax_error" in str(e) and e)
        assert "trusted_images.py:3: syntax_error" in error["problems"][0]
        assert served_revision(server) == "v2"
        assert allowed(server) is True

        lines = [json.loads(x) for x in server.decisions.read_text().splitlines()]
        assert {json.dumps(x["bundles"]) for x in lines} == {
            json.dumps({"authz": {"revision": "v1"}}),
            json.dumps({"authz": {"revision": "v2"}}),
        }
    finally:
        server.stop()


def test_until_a_bundle_loads_the_server_is_not_ready_and_denies(host, tmp_path, tls):
    """OPA: /health?bundles is 500 until "all configured bundles have been activated"."""
    server = start_server(None, tmp_path, "--bundle-url", host.url, *DELAY, tls=tls)  # 404 for now
    try:
        assert readyz(server).status == 503
        health = server.client().request("GET", "/health?bundles")
        assert (health.status, health.json()) == (500, {"error": "not all configured bundles have been activated"})
        assert allowed(server, "06-pod-create-web-server-registry-1.21.1--02-validate-CREATE") is False
        host.publish(pack(bundle("first")))
        assert until(lambda: served_revision(server) == "first")
        assert server.client().request("GET", "/health?bundles").status == 200
    finally:
        server.stop()


def test_with_a_verification_key_only_signed_bundles_are_served(host, tmp_path, tls):
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "signing.key", tmp_path / "verification.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    host.publish(pack(bundle("unsigned")))
    server = start_server(None, tmp_path, "--bundle-url", host.url, *DELAY, "--verification-key", str(public), tls=tls)
    try:
        error = until(lambda: readyz(server).json()["reload"]["last_error"])
        assert "the bundle is not signed" in error["problems"][0]
        assert readyz(server).status == 503
        files = bundle("signed")
        host.publish(pack([*files, (SIGNATURES, sign(files, private, "ES256"))]))
        assert until(lambda: served_revision(server) == "signed")
    finally:
        server.stop()
