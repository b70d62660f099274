"""`admit manifests --audit-interval`: what the server's audit needs, and no more: list/watch of
the kinds the rules judge, writing its policy reports, and its Lease in admit's namespace."""

from admit.kube.install import InstallOptions, build_manifests, bundle_files
from tests.helpers import SEED


def test_the_audit_may_list_what_it_judges_write_reports_and_hold_its_lease(seed, ca, serving):
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files=bundle_files(SEED),
                             audit_interval=30)  # fmt: skip
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build_manifests(seed, options)}
    role = objects[("ClusterRole", "admit.pipy")]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "replicationcontrollers"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets",
                                              "statefulsets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["openreports.io"], "resources": ["clusterreports", "reports"],
         "verbs": ["create", "delete", "get", "list", "patch", "update"]},
    ]  # fmt: skip
    lease = objects[("Role", "admit-audit-lease")]
    assert lease["metadata"]["namespace"] == "pipy"
    assert lease["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                               "verbs": ["create", "get", "update"]}]  # fmt: skip
    assert ("RoleBinding", "admit-audit-lease") in objects
    assert objects[("ServiceAccount", "admit")]["automountServiceAccountToken"] is True
    [container] = objects[("Deployment", "admit")]["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--audit-interval", "30"]
    assert {"name": "POD_NAMESPACE", "value": "pipy"} in container["env"]


def test_without_the_audit_nothing_is_granted(seed, options):
    kinds = {o["kind"] for o in build_manifests(seed, options)}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
