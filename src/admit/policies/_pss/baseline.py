"""The Baseline checks, each as the reference implementation (kubernetes/pod-security-admission,
`policy/check_*.go`) defines it at every policy version, with the reason and detail PSA writes
when it fails.

Each `find_*` returns the offending values of one pod in PSA's visiting order; each `explain_*`
words the findings left after exemptions as PSA words a failed check.
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
    field,
    go_quote,
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
    SECCOMP_CONTAINER_ANNOTATION,
    SECCOMP_POD_ANNOTATION,
    explain_proc_mount,
    explain_seccomp,
    explain_seccomp_annotations,
    find_proc_mount,
    find_proc_mount_1_35,
    find_seccomp,
    find_seccomp_annotations,
)

# --- HostProcess ----------------------------------------------------------------------------


def find_host_process(pod: Pod) -> list[Finding]:
    found = []
    rel = "securityContext.windowsOptions.hostProcess"
    if field(section(pod.security_context, "windowsOptions"), "hostProcess") is True:
        message = f"the pod must not set {rel}=true"
        found.append(Finding(f"spec.{rel}", f"spec.{rel}", True, message))
    for c in pod.containers:
        if field(section(c.security_context, "windowsOptions"), "hostProcess") is True:
            message = f'container "{c.name}" must not set {rel}=true'
            found.append(in_container(c, rel, True, message))
    return found


def explain_host_process(findings: Sequence[Finding]) -> tuple[str, str]:
    who = " and ".join(setters(findings))
    return "hostProcess", f"{who} must not set securityContext.windowsOptions.hostProcess=true"


# --- Host Namespaces ------------------------------------------------------------------------

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def find_host_namespaces(pod: Pod) -> list[Finding]:
    return [
        Finding(f"spec.{key}", f"spec.{key}", True, f"the pod must not set {key}=true")
        for key in HOST_NAMESPACES
        if field(pod.spec, key) is True
    ]


def explain_host_namespaces(findings: Sequence[Finding]) -> tuple[str, str]:
    return "host namespaces", ", ".join(f"{f.field[len('spec.') :]}=true" for f in findings)


# --- Privileged Containers ------------------------------------------------------------------


def find_privileged(pod: Pod) -> list[Finding]:
    rel = "securityContext.privileged"
    return [
        in_container(c, rel, True, f'container "{c.name}" must not set {rel}=true')
        for c in pod.containers
        if c.security_context.get("privileged") is True
    ]


def explain_privileged(findings: Sequence[Finding]) -> tuple[str, str]:
    names = containers_named(findings)
    return "privileged", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} "
        "must not set securityContext.privileged=true"
    )


# --- Capabilities ---------------------------------------------------------------------------

DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def find_added_capabilities(pod: Pod) -> list[Finding]:
    found = []
    for c in pod.containers:
        capabilities = section(c.security_context, "capabilities")
        for j, cap in enumerate(items(capabilities, "add")):
            if cap not in DEFAULT_CAPABILITIES:
                message = f'container "{c.name}" must not add capability {text(cap)}'
                rel = "securityContext.capabilities.add"
                found.append(in_container(c, rel, text(cap), message, f"{rel}[{j}]"))
    return found


def explain_added_capabilities(findings: Sequence[Finding]) -> tuple[str, str]:
    names = containers_named(findings)
    caps = sorted({f.value for f in findings})
    return "non-default capabilities", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} must not include "
        f"{quoted(caps)} in securityContext.capabilities.add"
    )


# --- HostPath Volumes -----------------------------------------------------------------------


def find_host_path_volumes(pod: Pod) -> list[Finding]:
    found = []
    for i, volume in enumerate(items(pod.spec, "volumes")):
        host_path = field(volume, "hostPath")
        if host_path is not None:
            name = text(field(volume, "name"))
            found.append(
                Finding(
                    "spec.volumes[*].hostPath",
                    f"spec.volumes[{i}].hostPath",
                    text(field(host_path, "path")),
                    f'volume "{name}" must not be a hostPath volume',
                    name=name,
                )
            )
    return found


def explain_host_path_volumes(findings: Sequence[Finding]) -> tuple[str, str]:
    names = [f.name for f in findings]
    return "hostPath volumes", f"{plural('volume', 'volumes', len(names))} {quoted(names)}"


# --- Host Ports -----------------------------------------------------------------------------


def find_host_ports(pod: Pod) -> list[Finding]:
    found = []
    for c in pod.containers:
        for j, port in enumerate(items(c.raw, "ports")):
            host_port = field(port, "hostPort")
            if host_port is not None and host_port != 0 and host_port is not False:
                message = f'container "{c.name}" must not use hostPort {text(host_port)}'
                at = f"ports[{j}].hostPort"
                found.append(in_container(c, "ports[*].hostPort", text(host_port), message, at))
    return found


def explain_host_ports(findings: Sequence[Finding]) -> tuple[str, str]:
    names = containers_named(findings)
    ports = sorted({f.value for f in findings})  # PSA sorts them as strings
    return "hostPort", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} "
        f"{plural('uses', 'use', len(names))} {plural('hostPort', 'hostPorts', len(ports))} "
        f"{', '.join(ports)}"
    )


# --- AppArmor -------------------------------------------------------------------------------

APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
APPARMOR_ANNOTATION_FIELD = f"metadata.annotations['{APPARMOR_ANNOTATION}*']"


def _allowed_apparmor_annotation(value: str) -> bool:
    return value == "" or value == "runtime/default" or value.startswith("localhost/")


def find_apparmor(pod: Pod) -> list[Finding]:
    found = []
    rel = "securityContext.appArmorProfile.type"
    profile = section(pod.security_context, "appArmorProfile")
    if profile is not None and field(profile, "type") not in APPARMOR_TYPES:
        kind = text(field(profile, "type"))
        found.append(
            Finding(f"spec.{rel}", f"spec.{rel}", kind, f"the pod must not set {rel}={kind}")
        )
    for c in pod.containers:
        profile = section(c.security_context, "appArmorProfile")
        if profile is not None and field(profile, "type") not in APPARMOR_TYPES:
            kind = text(field(profile, "type"))
            message = f'container "{c.name}" must not set {rel}={kind}'
            found.append(in_container(c, rel, kind, message))
    annotations = [
        (key, text(value))
        for key, value in pod.annotations.items()
        if key.startswith(APPARMOR_ANNOTATION) and not _allowed_apparmor_annotation(text(value))
    ]
    for key, value in sorted(annotations, key=lambda kv: f"{kv[0]}={go_quote(kv[1])}"):
        found.append(
            Finding(
                APPARMOR_ANNOTATION_FIELD,
                f"metadata.annotations['{key}']",
                value,
                f"annotation {key} must not be {go_quote(value)}",
                name=key,
            )
        )
    return found


def explain_apparmor(findings: Sequence[Finding]) -> tuple[str, str]:
    fields = [f for f in findings if f.field != APPARMOR_ANNOTATION_FIELD]
    annotations = [
        f"{f.name}={go_quote(f.value)}" for f in findings if f.field == APPARMOR_ANNOTATION_FIELD
    ]
    values = sorted({f.value for f in fields}) + annotations
    who = setters(fields)
    if annotations:
        who.append(plural("annotation", "annotations", len(annotations)))
    reason = plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values))
    return reason, f"{' and '.join(who)} must not set AppArmor profile type to {quoted(values)}"


# --- SELinux --------------------------------------------------------------------------------

SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _selinux(options: object, types: frozenset[str]) -> list[tuple[str, str]]:
    """(key, value) of each forbidden field of one seLinuxOptions."""
    found = []
    kind = text(field(options, "type"))
    if kind not in types:
        found.append(("type", kind))
    for key in ("user", "role"):
        value = field(options, key)
        if value:
            found.append((key, text(value)))
    return found


def _shown(key: str, value: str) -> str:
    return f"seLinuxOptions.type={value}" if key == "type" else f"seLinuxOptions.{key}"


def _find_selinux(pod: Pod, types: frozenset[str]) -> list[Finding]:
    found = []
    for key, value in _selinux(section(pod.security_context, "seLinuxOptions"), types):
        where = f"spec.securityContext.seLinuxOptions.{key}"
        message = f"the pod must not set {_shown(key, value)}"
        found.append(Finding(where, where, value, message))
    for c in pod.containers:
        for key, value in _selinux(section(c.security_context, "seLinuxOptions"), types):
            message = f'container "{c.name}" must not set {_shown(key, value)}'
            found.append(in_container(c, f"securityContext.seLinuxOptions.{key}", value, message))
    return found


def find_selinux_1_0(pod: Pod) -> list[Finding]:
    return _find_selinux(pod, SELINUX_TYPES_1_0)


def find_selinux_1_31(pod: Pod) -> list[Finding]:
    return _find_selinux(pod, SELINUX_TYPES_1_31)


def explain_selinux(findings: Sequence[Finding]) -> tuple[str, str]:
    types = sorted({f.value for f in findings if f.field.endswith(".type")})
    problems = [f"{plural('type', 'types', len(types))} {quoted(types)}"] if types else []
    if any(f.field.endswith(".user") for f in findings):
        problems.append("user may not be set")
    if any(f.field.endswith(".role") for f in findings):
        problems.append("role may not be set")
    who = " and ".join(setters(findings))
    return "seLinuxOptions", (
        f"{who} set forbidden securityContext.seLinuxOptions: {'; '.join(problems)}"
    )


# --- Sysctls --------------------------------------------------------------------------------

SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SYSCTLS_1_37 = SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _sysctls(safe: frozenset[str]) -> Find:
    def find(pod: Pod) -> list[Finding]:
        found = []
        for i, sysctl in enumerate(items(pod.security_context, "sysctls")):
            name = text(field(sysctl, "name"))
            if name not in safe:
                found.append(
                    Finding(
                        "spec.securityContext.sysctls[*].name",
                        f"spec.securityContext.sysctls[{i}].name",
                        name,
                        f"the pod must not set sysctl {name}",
                    )
                )
        return found

    return find


def explain_sysctls(findings: Sequence[Finding]) -> tuple[str, str]:
    return "forbidden sysctls", ", ".join(f.value for f in findings)


# --- Host Probes / Lifecycle Hooks ----------------------------------------------------------

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")
HANDLERS = ("httpGet", "tcpSocket")
PROBE_HOST_FIELDS = tuple(
    f"{probe}.{handler}.host" for probe in PROBES for handler in HANDLERS
) + tuple(f"lifecycle.{hook}.{handler}.host" for hook in HOOKS for handler in HANDLERS)


def find_probe_hosts(pod: Pod) -> list[Finding]:
    found = []
    for c in pod.containers:
        holders = [(probe, c.raw[probe]) for probe in PROBES if probe in c.raw]
        if "lifecycle" in c.raw:
            lifecycle = section(c.raw, "lifecycle")
            holders += [(f"lifecycle.{hook}", section(lifecycle, hook)) for hook in HOOKS]
        for where, holder in holders:
            for handler in HANDLERS:
                host = field(section(holder, handler), "host")
                if host:
                    rel = f"{where}.{handler}.host"
                    message = f'container "{c.name}" must not set {rel}={text(host)}'
                    found.append(in_container(c, rel, text(host), message))
    return found


def explain_probe_hosts(findings: Sequence[Finding]) -> tuple[str, str]:
    names = sorted(set(containers_named(findings)))
    hosts = sorted({f.value for f in findings})
    return "probe or lifecycle host", (
        f"{plural('container', 'containers', len(names))} {quoted(names)} "
        f"{plural('uses', 'use', len(names))} "
        f"{plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{quoted(hosts)}"
    )


# --- the checks -----------------------------------------------------------------------------

SELINUX_FIELDS = tuple(
    restricted
    for key in ("type", "user", "role")
    for restricted in (
        f"spec.securityContext.seLinuxOptions.{key}",
        *in_every_section(f"securityContext.seLinuxOptions.{key}"),
    )
)

BASELINE: tuple[Check, ...] = (
    Check(
        "windowsHostProcess",
        "baseline",
        "HostProcess",
        (Revision(0, find_host_process, explain_host_process),),
        (
            "spec.securityContext.windowsOptions.hostProcess",
            *in_every_section("securityContext.windowsOptions.hostProcess"),
        ),
    ),
    Check(
        "hostNamespaces",
        "baseline",
        "Host Namespaces",
        (Revision(0, find_host_namespaces, explain_host_namespaces),),
        tuple(f"spec.{key}" for key in HOST_NAMESPACES),
    ),
    Check(
        "privileged",
        "baseline",
        "Privileged Containers",
        (Revision(0, find_privileged, explain_privileged),),
        in_every_section("securityContext.privileged"),
    ),
    Check(
        "capabilities_baseline",
        "baseline",
        "Capabilities",
        (Revision(0, find_added_capabilities, explain_added_capabilities),),
        in_every_section("securityContext.capabilities.add"),
    ),
    Check(
        "hostPathVolumes",
        "baseline",
        "HostPath Volumes",
        (Revision(0, find_host_path_volumes, explain_host_path_volumes),),
        ("spec.volumes[*].hostPath",),
    ),
    Check(
        "hostPorts",
        "baseline",
        "Host Ports",
        (Revision(0, find_host_ports, explain_host_ports),),
        in_every_section("ports[*].hostPort"),
    ),
    Check(
        "appArmorProfile",
        "baseline",
        "AppArmor",
        (Revision(0, find_apparmor, explain_apparmor),),
        (
            "spec.securityContext.appArmorProfile.type",
            *in_every_section("securityContext.appArmorProfile.type"),
            APPARMOR_ANNOTATION_FIELD,
        ),
    ),
    Check(
        "seLinuxOptions",
        "baseline",
        "SELinux",
        (
            Revision(0, find_selinux_1_0, explain_selinux),
            Revision(31, find_selinux_1_31, explain_selinux),
        ),
        SELINUX_FIELDS,
    ),
    Check(
        "procMount",
        "baseline",
        "/proc Mount Type",
        (
            Revision(0, find_proc_mount, explain_proc_mount),
            Revision(35, find_proc_mount_1_35, explain_proc_mount),
        ),
        in_every_section("securityContext.procMount"),
    ),
    Check(
        "seccompProfile_baseline",
        "baseline",
        "Seccomp",
        (
            Revision(0, find_seccomp_annotations, explain_seccomp_annotations),
            Revision(19, find_seccomp, explain_seccomp),
        ),
        (
            "spec.securityContext.seccompProfile.type",
            *in_every_section("securityContext.seccompProfile.type"),
            f"metadata.annotations['{SECCOMP_POD_ANNOTATION}']",
            f"metadata.annotations['{SECCOMP_CONTAINER_ANNOTATION}*']",
        ),
    ),
    Check(
        "sysctls",
        "baseline",
        "Sysctls",
        (
            Revision(0, _sysctls(SYSCTLS_1_0), explain_sysctls),
            Revision(27, _sysctls(SYSCTLS_1_27), explain_sysctls),
            Revision(29, _sysctls(SYSCTLS_1_29), explain_sysctls),
            Revision(32, _sysctls(SYSCTLS_1_32), explain_sysctls),
            Revision(37, _sysctls(SYSCTLS_1_37), explain_sysctls),
        ),
        ("spec.securityContext.sysctls[*].name",),
    ),
    Check(
        "hostProbesAndHostLifecycle",
        "baseline",
        "Host Probes / Lifecycle Hooks",
        (Revision(34, find_probe_hosts, explain_probe_hosts),),
        tuple(f for rel in PROBE_HOST_FIELDS for f in in_every_section(rel)),
    ),
)
