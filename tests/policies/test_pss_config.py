"""Configuring the Pod Security Standards in admit.yaml: a version for every rule, exemptions per
control, image and value, PSA's defaults and exemptions; every mistake is a load error at its
line, with the fix in the message."""

import json
import shutil

import pytest

import admit
from admit.loading.loader import load_bundle
from admit.policies import library_path
from admit.testing import request


def copied(tmp_path, name, config):
    """The library bundle `name` copied into a repository, with `config` as its admit.yaml."""
    root = tmp_path / name
    shutil.copytree(library_path(name), root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (root / "admit.yaml").write_text(config)
    return root


def problems(root):
    with pytest.raises(admit.BundleError) as caught:
        load_bundle(root)
    return [str(p) for p in caught.value.problems]


def pod(**spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:1"}], **spec},
    }


def test_a_copied_profile_is_pinned_to_a_version_and_exempts_a_value_in_admit_yaml(tmp_path):
    root = copied(
        tmp_path,
        "pss-baseline",
        "parameters:\n"
        "  version: v1.31\n"
        "  exclude:\n"
        "  - {controlName: Sysctls, restrictedField: 'spec.securityContext.sysctls[*].name',"
        " values: [kernel.msgmax]}\n",
    )
    policy_set = load_bundle(root)

    def denials(*names):
        sysctls = [{"name": name, "value": "1"} for name in names]
        return admit.evaluate(policy_set, request(pod(securityContext={"sysctls": sysctls}))).denials

    assert denials("net.ipv4.tcp_rmem") == ("the pod must not set sysctl net.ipv4.tcp_rmem",)
    assert denials("kernel.msgmax", "net.ipv4.tcp_keepalive_time") == ()


def test_a_version_that_is_not_latest_or_v1_x_is_a_load_error(tmp_path):
    root = copied(tmp_path, "pss-baseline", "parameters:\n  version: '1.30'\n")
    assert problems(root) == [
        "admit.yaml:2: invalid_parameter: parameter 'version': "
        "must be \"latest\" or \"v1.x\" (a Kubernetes minor), not '1.30'"
    ]


@pytest.mark.parametrize(
    ("exclusion", "problem"),
    [
        (
            "{controlName: capabilities, images: ['*']}",
            "controlName 'capabilities' is not a Pod Security Standards control; "
            "did you mean 'Capabilities'?",
        ),
        (
            "{controlName: Privileged Containers}",
            "'Privileged Containers' restricts containers: give the images it is for "
            '(images: ["*"] for every container)',
        ),
        (
            "{controlName: Sysctls, images: [nginx]}",
            "'Sysctls' restricts the pod's own fields: images must not be given",
        ),
        (
            "{controlName: Host Ports, images: ['*'], restrictedField: spec.hostNetwork,"
            " values: [true]}",
            "restrictedField of 'Host Ports' is one of: spec.initContainers[*].ports[*].hostPort, "
            "spec.containers[*].ports[*].hostPort, spec.ephemeralContainers[*].ports[*].hostPort; "
            "not 'spec.hostNetwork'",
        ),
        ("{controlName: Seccomp, values: [Unconfined]}", "values need the restrictedField they are values of"),
        (
            "{controlName: Seccomp, restrictedField: spec.securityContext.seccompProfile.type}",
            "restrictedField spec.securityContext.seccompProfile.type needs the values it exempts (a list)",
        ),
        ("{controlName: Seccomp, image: [x]}", "unknown key 'image' (allowed: controlName, images, restrictedField, values)"),
    ],
)
def test_a_wrong_exclusion_is_a_load_error_that_says_what_to_write(tmp_path, exclusion, problem):
    root = copied(tmp_path, "pss-restricted", f"parameters:\n  exclude:\n  - {{controlName: HostProcess}}\n  - {exclusion}\n")
    assert problems(root) == [f"admit.yaml:2: invalid_parameter: parameter 'exclude': exclusion 2: {problem}"]


def test_psa_defaults_and_exemptions_are_checked_when_the_bundle_loads(tmp_path):
    root = copied(
        tmp_path,
        "pod-security-admission",
        "policies:\n  pod-security:\n    parameters:\n"
        "      defaults: {enforce: strict}\n"
        "      exemptions: {users: [alice]}\n",
    )
    found = problems(root)
    assert "admit.yaml:4: invalid_parameter: parameter 'defaults' of rule pod-security/enforce: enforce: must be one of privileged, baseline, restricted" in found
    assert "admit.yaml:5: invalid_parameter: parameter 'exemptions' of rule pod-security/enforce: unknown key 'users' (allowed: usernames, namespaces, runtimeClasses)" in found


def test_the_namespace_label_mode_reads_the_labels_of_namespaces_checked_alongside(tmp_path):
    root = copied(tmp_path, "pod-security-admission", "policies: {}\n")
    shop = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}  # fmt: skip
    privileged = pod()
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    decision = admit.evaluate(load_bundle(root), request(privileged, cluster=[shop]))
    assert decision.denials == (
        'violates PodSecurity "baseline:latest": privileged '
        '(container "app" must not set securityContext.privileged=true)',
    )


def test_admit_check_reads_the_labels_of_the_namespace_manifests_it_is_given(capsys, tmp_path):
    from admit.cli import main

    shop = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                                    "pod-security.kubernetes.io/enforce-version": "v1.30"}}}  # fmt: skip
    manifests = tmp_path / "k8s.yaml"
    manifests.write_text(json.dumps(shop) + "\n---\n" + json.dumps(pod()) + "\n")
    with pytest.raises(SystemExit) as exited:
        main(["check", str(library_path("pod-security-admission")), str(manifests), "-o", "json"])
    out = capsys.readouterr().out
    assert exited.value.code == 1
    [failure] = [r for r in json.loads(out)["results"] if r["result"] == "fail"]
    assert failure["rule"] == "enforce"
    assert failure["message"].startswith(
        'violates PodSecurity "restricted:v1.30": allowPrivilegeEscalation != false (container "app"'
    )
