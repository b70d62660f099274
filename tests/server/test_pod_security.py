"""Pod Security admission in the running server: two workers learn namespaces' pod-security
labels from list+watch of a (fake) kube-apiserver, and answer recorded pod reviews as PSA does:
enforce denies with PSA's message, warn adds an admission warning, audit an audit annotation
and a decision-log entry.

The namespace list is built from the Namespace kube-apiserver v1.36.2 sent when team-a was
labelled (step 25), in the list format it answers (`list/`), with pod-security labels added:
no recording of a namespace list exists.
"""

import copy
import json
import time

from admit.policies import library_path
from tests.helpers import recorded_review
from tests.kube.fake_apiserver import FakeAPIServer, Script
from tests.server.harness import once, start_server

LABEL = "pod-security.kubernetes.io/"
COMPLEX = "09-pod-create-complex--02-validate-CREATE-pod-complex"  # a privileged container, hostPath


def namespace_list(**labels_by_name):
    recorded = recorded_review("25-namespace-label-update--01-validate-UPDATE")["body"]
    namespace = recorded["request"]["object"]
    items = []
    for name, labels in labels_by_name.items():
        item = copy.deepcopy(namespace)
        del item["kind"], item["apiVersion"]  # list items carry neither
        item["metadata"]["name"] = name
        item["metadata"]["labels"] = {"kubernetes.io/metadata.name": name, **labels}
        items.append(item)
    body = {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "300"}, "items": items}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def review_in(namespace):
    body = copy.deepcopy(recorded_review(COMPLEX)["body"])
    body["request"]["namespace"] = namespace
    body["request"]["object"]["metadata"]["namespace"] = namespace
    return json.dumps(body).encode()


def test_two_workers_judge_pods_by_their_namespace_labels_as_psa_does(tmp_path, tls):
    namespaces = namespace_list(
        default={f"{LABEL}enforce": "baseline", f"{LABEL}enforce-version": "v1.36"},
        **{"team-a": {"env": "dev", f"{LABEL}warn": "restricted", f"{LABEL}audit": "baseline"}},
    )
    with FakeAPIServer({"/api/v1/namespaces": Script(namespaces, [])}) as api:
        server = start_server(
            library_path("pod-security-admission"),
            tmp_path,
            "--kubeconfig",
            str(api.kubeconfig(tmp_path)),
            workers=2,
            tls=tls,
        )
        with server:
            deadline = time.monotonic() + 20
            while once(server.port, tls, "GET", "/readyz").status != 200:
                assert time.monotonic() < deadline, server.stderr()
                time.sleep(0.05)
            ready = once(server.port, tls, "GET", "/readyz").json()
            answers = {  # a connection each, so both workers answer some
                ns: [once(server.port, tls, "POST", "/validate", review_in(ns)).json()["response"]
                     for _ in range(6)]
                for ns in ("default", "team-a", "elsewhere")
            }  # fmt: skip
    assert ready["cache"]["Namespace"]["synced"] is True
    assert ready["cache"]["Namespace"]["objects"] == 2
    denial = (
        'violates PodSecurity "baseline:v1.36": non-default capabilities (container "log-shipper" '
        'must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add), hostPath '
        'volumes (volume "host-logs"), privileged (container "log-shipper" must not set '
        "securityContext.privileged=true)"
    )
    for answer in answers["default"]:
        assert answer["allowed"] is False
        assert answer["status"] == {"code": 403, "reason": "Forbidden", "message": denial}
        assert "warnings" not in answer  # as PSA: no warning on a denied pod
    for answer in answers["team-a"]:
        assert answer["allowed"] is True
        [warning] = answer["warnings"]
        assert warning.startswith('would violate PodSecurity "restricted:latest": privileged (')
        assert answer["auditAnnotations"] == {
            "pod-security.audit": denial.replace('violates PodSecurity "baseline:v1.36"', 'would violate PodSecurity "baseline:latest"')
        }
    assert all(a == {"uid": a["uid"], "allowed": True} for a in answers["elsewhere"])  # no labels
    audited = [json.loads(line) for line in server.decisions.read_text().splitlines()]
    audits = [r for line in audited if line["namespace"] == "team-a" for r in line["results"]
              if r["rule"] == "audit"]  # fmt: skip
    assert len(audits) == 6
    assert {(r["result"], r["action"]) for r in audits} == {("fail", "audit")}
