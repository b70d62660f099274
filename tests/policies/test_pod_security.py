"""The namespace-label mode and the per-control profiles are one reading of the Pod Security
Standards: replayed through both, every pod and workload kube-apiserver v1.36.2 sent (as
recorded, and hardened toward Restricted) gets the same verdict at every level and version."""

import copy
from functools import cache

import pytest

import admit
from admit.core.cluster import Cluster
from admit.core.engine import EXISTING_NOTE
from admit.core.review import Request
from admit.core.workloads import POD_TEMPLATES
from admit.loading.config import apply_config
from admit.loading.loader import load_bundle
from admit.policies import _pss, library_path
from admit.policies._pss.namespace import significant_update
from tests.helpers import recorded

WORKLOADS = {kind for _, kind in POD_TEMPLATES}
LEVELS = ["baseline", "restricted"]
VERSIONS = ["v1.22", "v1.24", "v1.30", "latest"]


def judged(record):
    """Recorded requests both modes judge: pod and workload writes (pods' ephemeral containers
    included), but not pod updates that change no image or container, which PSA lets through."""
    request = record["body"]["request"]
    if record["http"]["path"].split("?")[0] != "/validate":
        return False
    if request["kind"]["kind"] not in {"Pod", *WORKLOADS}:
        return False
    if request["operation"] not in ("CREATE", "UPDATE"):
        return False
    if request.get("subResource") not in (None, "ephemeralcontainers"):
        return False
    return request["kind"]["kind"] != "Pod" or request["operation"] == "CREATE" or (
        significant_update(request["object"], request["oldObject"])
    )


def pod_specs(obj):
    """The pod spec of a pod, or of a workload's template."""
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    keys = next(keys for (_, kind), keys in POD_TEMPLATES.items() if kind == obj["kind"])
    for key in keys:
        obj = obj[key]
    return [obj["spec"]]


def hardened(request):
    """The request with its pod set up as Restricted asks (hostPath volumes left in place)."""
    request = copy.deepcopy(request)
    for obj in (request["object"], request.get("oldObject")):
        if not obj:
            continue
        for spec in pod_specs(obj):
            spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
            for section in ("initContainers", "containers", "ephemeralContainers"):
                for c in spec.get(section, []):
                    c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return request


REQUESTS = [
    variant(record["body"]["request"])
    for record in recorded()
    if judged(record)
    for variant in (lambda r: r, hardened)
]


@cache
def profile(level, version):
    """The pss-<level> bundle with every rule pinned to `version`."""
    policy_set = load_bundle(library_path(f"pss-{level}"))
    rules, problems = apply_config(list(policy_set.rules), {"parameters": {"version": version}}, "-")
    assert problems == []
    return policy_set.with_rules(rules)


@cache
def label_mode():
    return load_bundle(library_path("pod-security-admission"))


def namespace(name, level, version):
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "warn")}
    labels |= {f"pod-security.kubernetes.io/{mode}-version": version for mode in ("enforce", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def verdict(raw, level, version):
    """(refused by the namespace-label mode, refused by the profile), and what each said."""
    cluster = Cluster.of([namespace(raw["namespace"], level, version)])
    labelled = admit.evaluate(label_mode(), Request(raw, cluster=cluster))
    profiled = admit.evaluate(profile(level, version), Request(raw))
    if raw["kind"]["kind"] == "Pod":
        refused = not labelled.allowed  # enforce denies pods
    else:
        assert labelled.allowed, labelled.denials  # workloads are warned about, never denied
        refused = bool(labelled.warnings)
    said = (labelled.denials or labelled.warnings, profiled.denials)
    # On UPDATE the profile warns about what the old object already violated (existing
    # violations) where PSA judges the new object alone: both found the same violations.
    existing = any(w.endswith(EXISTING_NOTE) for w in profiled.warnings)
    return refused, not profiled.allowed or existing, said


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("level", LEVELS)
def test_the_namespace_labels_give_the_profiles_verdict_on_every_recorded_pod(level, version):
    seen = set()
    for raw in REQUESTS:
        by_labels, by_profile, said = verdict(raw, level, version)
        assert by_labels == by_profile, (raw["name"], raw["operation"], said)
        seen.add(by_labels)
    assert seen == {True, False}  # the replay saw pods pass and fail


def test_the_replay_covers_pods_workloads_and_ephemeral_containers():
    kinds = {(r["kind"]["kind"], r["operation"], r.get("subResource")) for r in REQUESTS}
    assert ("Pod", "CREATE", None) in kinds
    assert ("Pod", "UPDATE", "ephemeralcontainers") in kinds
    assert {k for k, _, _ in kinds} >= {"Deployment", "ReplicaSet", "StatefulSet", "Job", "CronJob", "DaemonSet"}


def test_the_replayed_controls_and_messages_are_psas():
    """The complex pod at Restricted: each check PSA reports, in PSA's order and words."""
    record = next(r for r in recorded() if r["capture"]["step"] == "09-pod-create-complex"
                  and r["http"]["path"].startswith("/validate?"))  # fmt: skip
    results = _pss.evaluate(_pss.Pod(record["body"]["request"]["object"]), "restricted", 36)
    assert [r.check.id for r in results] == [
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "restrictedVolumes",
        "runAsUser",
    ]
    assert _pss.explain(results).startswith(
        'privileged (container "log-shipper" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (containers "init-config", "log-shipper" must set '
        "securityContext.allowPrivilegeEscalation=false)"
    )
