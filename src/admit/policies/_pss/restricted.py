"""The Restricted checks (added to Baseline, some replacing a Baseline check), as the reference
implementation defines them at every policy version, with PSA's reasons and details.

Windows pods (`spec.os.name: windows`) are exempt from the Linux-only controls from v1.25, and a
pod in its own user namespace (`hostUsers: false`) from the user checks from v1.35, as there.
"""

from __future__ import annotations

from collections.abc import Sequence

from admit.policies._pss.model import (
    Check,
    Find,
    Finding,
    Pod,
    Revision,
    containers_named,
    in_container,
    in_every_section,
    items,
    plural,
    quoted,
    section,
    setters,
    text,
)
from admit.policies._pss.shared import (
    explain_proc_mount,
    explain_seccomp,
    find_proc_mount,
    seccomp_findings,
)


def linux_only(find: Find) -> Find:
    """`find` for every pod but Windows pods (the v1.25 revisions)."""

    def find_on_linux(pod: Pod) -> list[Finding]:
        return [] if pod.windows else find(pod)

    return find_on_linux


def unless_user_namespace(find: Find) -> Find:
    """`find` for every pod but those in their own user namespace (the v1.35 revisions)."""

    def find_with_host_users(pod: Pod) -> list[Finding]:
        return [] if pod.user_namespace else find(pod)

    return find_with_host_users


# --- Volume Types ---------------------------------------------------------------------------

ALLOWED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# The order PSA names a volume's type in (its first match wins); anything else is "unknown".
RESTRICTED_VOLUMES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def find_volume_types(pod: Pod) -> list[Finding]:
    found = []
    for i, volume in enumerate(items(pod.spec, "volumes")):
        volume = volume if isinstance(volume, dict) else {}
        if any(volume.get(kind) is not None for kind in ALLOWED_VOLUMES):
            continue
        kind = next((k for k in RESTRICTED_VOLUMES if volume.get(k) is not None), "unknown")
        name = text(volume.get("name"))
        path = f"spec.volumes[{i}]" + (f".{kind}" if kind != "unknown" else "")
        message = f'volume "{name}" must not be of type {kind}'
        found.append(Finding("spec.volumes[*]", path, kind, message, name=name))
    return found


def explain_volume_types(findings: Sequence[Finding]) -> tuple[str, str]:
    names = [f.name for f in findings]
    kinds = sorted({f.value for f in findings})
    return "restricted volume types", (
        f"{plural('volume', 'volumes', len(names))} {quoted(names)} "
        f"{plural('uses', 'use', len(names))} "
        f"{plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{quoted(kinds)}"
    )


# --- Privilege Escalation -------------------------------------------------------------------


def find_privilege_escalation(pod: Pod) -> list[Finding]:
    rel = "securityContext.allowPrivilegeEscalation"
    found = []
    for c in pod.containers:
        value = c.security_context.get("allowPrivilegeEscalation")
        if value is not False:
            message = f'container "{c.name}" must set {rel}=false'
            found.append(in_container(c, rel, value, message))
    return found


def explain_privilege_escalation(findings: Sequence[Finding]) -> tuple[str, str]:
    names = containers_named(findings)
    return "allowPrivilegeEscalation != false", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} "
        "must set securityContext.allowPrivilegeEscalation=false"
    )


# --- Running as Non-root --------------------------------------------------------------------


def find_run_as_non_root(pod: Pod) -> list[Finding]:
    rel = "securityContext.runAsNonRoot"
    found = []
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is False:
        message = f"the pod must not set {rel}=false"
        found.append(Finding(f"spec.{rel}", f"spec.{rel}", False, message))
    for c in pod.containers:
        value = c.security_context.get("runAsNonRoot")
        if value is False:
            message = f'container "{c.name}" must not set {rel}=false'
            found.append(in_container(c, rel, False, message))
        elif value is None and pod_value is not True:
            message = f'container "{c.name}" must set {rel}=true (or the pod must)'
            found.append(in_container(c, rel, None, message))
    return found


def explain_run_as_non_root(findings: Sequence[Finding]) -> tuple[str, str]:
    explicit = [f for f in findings if f.value is False]
    if explicit:
        who = " and ".join(setters(explicit))
        return "runAsNonRoot != true", f"{who} must not set securityContext.runAsNonRoot=false"
    names = containers_named(findings)
    return "runAsNonRoot != true", (
        f"pod or {plural('container', 'containers', len(names))} {quoted(names)} "
        "must set securityContext.runAsNonRoot=true"
    )


# --- Running as Non-root user ---------------------------------------------------------------


def _is_root(value: object) -> bool:
    return type(value) is int and value == 0


def find_run_as_user(pod: Pod) -> list[Finding]:
    rel = "securityContext.runAsUser"
    found = []
    if _is_root(pod.security_context.get("runAsUser")):
        found.append(Finding(f"spec.{rel}", f"spec.{rel}", 0, f"the pod must not set {rel}=0"))
    for c in pod.containers:
        if _is_root(c.security_context.get("runAsUser")):
            found.append(in_container(c, rel, 0, f'container "{c.name}" must not set {rel}=0'))
    return found


def explain_run_as_user(findings: Sequence[Finding]) -> tuple[str, str]:
    return "runAsUser=0", f"{' and '.join(setters(findings))} must not set runAsUser=0"


# --- Seccomp --------------------------------------------------------------------------------


def find_seccomp_required(pod: Pod) -> list[Finding]:
    return seccomp_findings(pod, required=True)


# --- Capabilities ---------------------------------------------------------------------------


def find_capabilities(pod: Pod) -> list[Finding]:
    found = []
    for c in pod.containers:
        name = c.name
        capabilities = section(c.security_context, "capabilities")
        if "ALL" not in items(capabilities, "drop"):
            rel = "securityContext.capabilities.drop"
            message = f'container "{name}" must set {rel}=["ALL"]'
            found.append(in_container(c, rel, None, message))
        for j, cap in enumerate(items(capabilities, "add")):
            if cap != "NET_BIND_SERVICE":
                rel = "securityContext.capabilities.add"
                message = (
                    f'container "{name}" must not add capability {text(cap)} '
                    "(only NET_BIND_SERVICE)"
                )
                found.append(in_container(c, rel, text(cap), message, f"{rel}[{j}]"))
    return found


def explain_capabilities(findings: Sequence[Finding]) -> tuple[str, str]:
    details = []
    missing = containers_named([f for f in findings if f.field.endswith(".drop")])
    if missing:
        details.append(
            f"{plural('container', 'containers', len(missing))} {quoted(missing)} must set "
            'securityContext.capabilities.drop=["ALL"]'
        )
    adding = [f for f in findings if f.field.endswith(".add")]
    if adding:
        names = containers_named(adding)
        caps = sorted({f.value for f in adding})
        details.append(
            f"{plural('container', 'containers', len(names))} {quoted(names)} must not include "
            f"{quoted(caps)} in securityContext.capabilities.add"
        )
    return "unrestricted capabilities", "; ".join(details)


# --- the checks -----------------------------------------------------------------------------

RESTRICTED: tuple[Check, ...] = (
    Check(
        "restrictedVolumes",
        "restricted",
        "Volume Types",
        (Revision(0, find_volume_types, explain_volume_types),),
        ("spec.volumes[*]",),
        overrides=("hostPathVolumes",),
    ),
    Check(
        "allowPrivilegeEscalation",
        "restricted",
        "Privilege Escalation",
        (
            Revision(8, find_privilege_escalation, explain_privilege_escalation),
            Revision(25, linux_only(find_privilege_escalation), explain_privilege_escalation),
        ),
        in_every_section("securityContext.allowPrivilegeEscalation"),
    ),
    Check(
        "runAsNonRoot",
        "restricted",
        "Running as Non-root",
        (
            Revision(0, find_run_as_non_root, explain_run_as_non_root),
            Revision(35, unless_user_namespace(find_run_as_non_root), explain_run_as_non_root),
        ),
        ("spec.securityContext.runAsNonRoot", *in_every_section("securityContext.runAsNonRoot")),
    ),
    Check(
        "runAsUser",
        "restricted",
        "Running as Non-root user",
        (
            Revision(23, find_run_as_user, explain_run_as_user),
            Revision(35, unless_user_namespace(find_run_as_user), explain_run_as_user),
        ),
        ("spec.securityContext.runAsUser", *in_every_section("securityContext.runAsUser")),
    ),
    Check(
        "seccompProfile_restricted",
        "restricted",
        "Seccomp",
        (
            Revision(19, find_seccomp_required, explain_seccomp),
            Revision(25, linux_only(find_seccomp_required), explain_seccomp),
        ),
        (
            "spec.securityContext.seccompProfile.type",
            *in_every_section("securityContext.seccompProfile.type"),
        ),
        overrides=("seccompProfile_baseline",),
    ),
    Check(
        "capabilities_restricted",
        "restricted",
        "Capabilities",
        (
            Revision(22, find_capabilities, explain_capabilities),
            Revision(25, linux_only(find_capabilities), explain_capabilities),
        ),
        (
            *in_every_section("securityContext.capabilities.drop"),
            *in_every_section("securityContext.capabilities.add"),
        ),
        overrides=("capabilities_baseline",),
    ),
    Check(
        "procMount_restricted",
        "restricted",
        "/proc Mount Type",
        (Revision(35, find_proc_mount, explain_proc_mount),),
        in_every_section("securityContext.procMount"),
        overrides=("procMount",),
    ),
)
