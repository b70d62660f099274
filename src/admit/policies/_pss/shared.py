"""The checks both levels share, as the reference implementation defines them: /proc Mount
Type (Baseline's relaxed from v1.35 for pods in their own user namespace, Restricted's not) and
Seccomp (Baseline's, the annotations before v1.19 and the field since; Restricted's, which also
requires a profile).
"""

from __future__ import annotations

from collections.abc import Sequence

from admit.policies._pss.model import (
    Finding,
    Pod,
    containers_named,
    field,
    go_quote,
    in_container,
    plural,
    quoted,
    section,
    setters,
    text,
)

# --- /proc Mount Type -----------------------------------------------------------------------


def find_proc_mount(pod: Pod) -> list[Finding]:
    found = []
    for c in pod.containers:
        mount = c.security_context.get("procMount")
        if mount is not None and mount != "Default":
            rel = "securityContext.procMount"
            message = f'container "{c.name}" must not set {rel}={text(mount)}'
            found.append(in_container(c, rel, text(mount), message))
    return found


def find_proc_mount_1_35(pod: Pod) -> list[Finding]:
    """From v1.35, a pod in its own user namespace may unmask /proc."""
    return [] if pod.user_namespace else find_proc_mount(pod)


def explain_proc_mount(findings: Sequence[Finding]) -> tuple[str, str]:
    names = containers_named(findings)
    values = sorted({f.value for f in findings})
    return "procMount", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} "
        f"must not set securityContext.procMount to {quoted(values)}"
    )


# --- Seccomp --------------------------------------------------------------------------------

SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


def _allowed_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def find_seccomp_annotations(pod: Pod) -> list[Finding]:
    """Before v1.19 the profile was set by annotations (on the pod, or per container)."""
    keys = [(SECCOMP_POD_ANNOTATION, f"metadata.annotations['{SECCOMP_POD_ANNOTATION}']")]
    container_field = f"metadata.annotations['{SECCOMP_CONTAINER_ANNOTATION}*']"
    keys += [(SECCOMP_CONTAINER_ANNOTATION + c.name, container_field) for c in pod.containers]
    found = []
    for key, where in dict(keys).items():
        if key in pod.annotations and not _allowed_seccomp_annotation(text(pod.annotations[key])):
            value = text(pod.annotations[key])
            message = f"annotation {key} must not be {go_quote(value)}"
            path = f"metadata.annotations['{key}']"
            found.append(Finding(where, path, value, message, name=key))
    return found


def explain_seccomp_annotations(findings: Sequence[Finding]) -> tuple[str, str]:
    forbidden = sorted({f"{f.name}={go_quote(f.value)}" for f in findings})
    return "seccompProfile", (
        f"forbidden {plural('annotation', 'annotations', len(forbidden))} {', '.join(forbidden)}"
    )


def seccomp_findings(pod: Pod, *, required: bool) -> list[Finding]:
    """Profiles other than RuntimeDefault and Localhost; with `required`, also containers that
    set none while the pod sets no valid one (the Restricted form)."""
    found = []
    rel = "securityContext.seccompProfile.type"
    profile = section(pod.security_context, "seccompProfile")
    pod_valid = profile is not None and field(profile, "type") in SECCOMP_TYPES
    if profile is not None and not pod_valid:
        kind = text(field(profile, "type"))
        found.append(
            Finding(f"spec.{rel}", f"spec.{rel}", kind, f"the pod must not set {rel}={kind}")
        )
    for c in pod.containers:
        profile = section(c.security_context, "seccompProfile")
        if profile is not None:
            if field(profile, "type") not in SECCOMP_TYPES:
                kind = text(field(profile, "type"))
                message = f'container "{c.name}" must not set {rel}={kind}'
                found.append(in_container(c, rel, kind, message))
        elif required and not pod_valid:
            message = (
                f'container "{c.name}" must set {rel} to RuntimeDefault or Localhost '
                "(or the pod must)"
            )
            found.append(in_container(c, rel, None, message))
    return found


def find_seccomp(pod: Pod) -> list[Finding]:
    return seccomp_findings(pod, required=False)


def explain_seccomp(findings: Sequence[Finding]) -> tuple[str, str]:
    explicit = [f for f in findings if f.value is not None]
    if explicit:
        values = sorted({f.value for f in explicit})
        who = " and ".join(setters(explicit))
        return "seccompProfile", (
            f"{who} must not set securityContext.seccompProfile.type to {quoted(values)}"
        )
    names = containers_named(findings)
    return "seccompProfile", (
        f"pod or {plural('container', 'containers', len(names))} {quoted(names)} must set "
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
    )
