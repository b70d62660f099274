"""`admit serve --audit-interval` over the local list/watch server replaying kube-apiserver's
recorded Ingress traffic: the leader writes an OpenReports Report per namespace (valid against the
CRD), a changed object is judged again and a deleted one leaves its report; with two replicas
(two workers each) exactly one writes, and the other takes over when the leader stops."""

import json
import time

import pytest

from tests.helpers import FIXTURES, write_bundle
from tests.kube.fake_apiserver import FakeAPIServer, Script
from tests.kube.report_schemas import problems
from tests.server.harness import start_server

INGRESSES = "/apis/networking.k8s.io/v1/ingresses"
REPORTS = "/apis/openreports.io/v1alpha1/namespaces/{}/reports/admit-audit"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/admit-audit"
RULES = '''
import admit


@admit.validate("networking.k8s.io/v1/Ingress", severity="medium", category="Network")
def hosts_have_tls(request):
    """Every host of an Ingress is served over TLS."""
    covered = {host for tls in request.object.spec.tls for host in tls.hosts}
    for i, rule in enumerate(request.object.spec.rules):
        if rule.host and rule.host not in covered:
            yield admit.Violation(f"host {rule.host} is served without TLS", f"spec.rules[{i}].host")
'''
AUDIT = ("--audit-interval", "0.5", "--audit-lease-duration", "3")
EVENTS = (FIXTURES / "watch" / "ingresses-all-namespaces.jsonl").read_bytes().splitlines(True)


def wait_for(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def messages(report):
    return sorted((r["resources"][0]["name"], r["result"], r.get("message")) for r in report["results"])


@pytest.fixture
def cluster(tmp_path):
    script = Script((FIXTURES / "list" / "ingresses-all-namespaces.json").read_bytes(), [],
                    live=True)  # fmt: skip
    with FakeAPIServer({INGRESSES: script}) as server:
        yield server, script, server.kubeconfig(tmp_path)


def test_the_leader_keeps_a_report_per_namespace_as_objects_change(tmp_path, tls, cluster):
    api, script, kubeconfig = cluster
    bundle = write_bundle(tmp_path / "bundle", {"ingress_tls.py": RULES})
    with start_server(bundle, tmp_path, *AUDIT, "--kubeconfig", str(kubeconfig), workers=2,
                      tls=tls) as server:  # fmt: skip
        default = wait_for(lambda: api.objects.get(REPORTS.format("default")), what="report")
        assert problems(default, "openreports") == []
        assert default["summary"] == {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0}
        [result] = default["results"]
        assert result["message"] == "host b.example.com is served without TLS"
        assert (result["severity"], result["category"]) == ("medium", "Network")
        assert result["properties"] == {"action": "enforce", "path": "spec.rules[1].host"}
        applied = [(m, p) for m, p, _ in api.writes if p == REPORTS.format("default")]
        assert applied == [("PATCH", REPORTS.format("default"))]

        script.push(EVENTS[0])  # ADDED team-a/api, one host, no TLS
        team_a = REPORTS.format("team-a")
        report = wait_for(lambda: api.objects.get(team_a), what="team-a's report")
        assert messages(report) == [("api", "fail", "host api.team-a.example.com is served without TLS")]
        script.push(EVENTS[1])  # MODIFIED: a second host
        wait_for(lambda: len(api.objects[team_a]["results"][0]["message"].split("; ")) == 2,
                 what="the changed object judged again")  # fmt: skip
        assert problems(api.objects[team_a], "openreports") == []
        script.push(EVENTS[2])  # DELETED
        wait_for(lambda: team_a not in api.objects, what="the deleted object's report removed")
        assert ("DELETE", team_a) in [(m, p) for m, p, _ in api.writes]
        # the default namespace's report was never rewritten: nothing changed there
        assert [(m, p) for m, p, _ in api.writes if p == REPORTS.format("default")] == applied

        status = json.loads((server.client().request("GET", "/readyz")).body)["audit"]
        assert status["lease"]["leading"] is True
        assert status["synced"] is True
        metrics = server.client().request("GET", "/metrics").body.decode()
        assert (
            'admit_audit_violations{namespace="default",policy="ingress-tls",result="fail"} 1.0'
        ) in metrics
        assert 'admit_audit_objects{resource="ingresses.networking.k8s.io"} 1.0' in metrics


def test_of_two_replicas_one_writes_and_the_other_takes_over(tmp_path, tls, cluster):
    api, _, kubeconfig = cluster
    bundle = write_bundle(tmp_path / "bundle", {"ingress_tls.py": RULES})
    common = (*AUDIT, "--kubeconfig", str(kubeconfig))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_server(bundle, tmp_path / "a", *common, workers=2, tls=tls)
    try:
        wait_for(lambda: api.objects.get(REPORTS.format("default")), what="first leader's report")
        holder = api.objects[LEASE]["spec"]["holderIdentity"]
        with start_server(bundle, tmp_path / "b", *common, workers=2, tls=tls) as second:
            standby = wait_for(lambda: json.loads(second.client().request("GET", "/readyz").body)
                               .get("audit"), what="the second replica's audit status")  # fmt: skip
            assert standby["lease"]["leading"] is False
            assert standby["lease"]["holder"] == holder
            writers = {p for m, p, _ in api.writes if p.startswith("/apis/openreports.io")}
            time.sleep(2)  # the standby writes nothing
            assert {p for m, p, _ in api.writes if p.startswith("/apis/openreports.io")} == writers
            assert api.objects[LEASE]["spec"]["holderIdentity"] == holder

            first.stop()  # SIGTERM: the leader releases its lease
            new = wait_for(lambda: (h := api.objects[LEASE]["spec"]["holderIdentity"])
                           and h != holder and h, what="a new leader")  # fmt: skip
            status = wait_for(
                lambda: (s := json.loads(second.client().request("GET", "/readyz").body)["audit"])
                and s["lease"]["leading"] and s["written"] and s, what="the new leader writing")  # fmt: skip
            assert status["lease"]["identity"] == new
            assert api.objects[LEASE]["spec"]["leaseTransitions"] == 1
            report = api.objects[REPORTS.format("default")]
            assert problems(report, "openreports") == []
    finally:
        first.stop()
