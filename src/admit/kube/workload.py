"""The pods that serve the webhook: their Deployment, Service and PodDisruptionBudget.

Availability and containment are decided here: replicas spread over nodes and kept through
rollouts and drains, a stop that lets in-flight reviews finish, and a container that runs as
non-root on a read-only root filesystem without capabilities (the `restricted` Pod Security
Standard), since whoever controls this pod controls admission. Pure; called by
`admit.kube.install`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admit.kube.options import CONSOLE_PORT, HTTPS_PORT, SERVICE_PORT, InstallOptions

BUNDLE_MOUNT = "/etc/admit/bundle"
POLICY_LABEL = "admit.dev/policy"  # `admit serve --configmaps admit.dev/policy=true`
TLS_MOUNT = "/etc/admit/tls"
CONSOLE_MOUNT = "/etc/admit/console"  # the console's token Secret, when it is exposed
RUN_AS = 65532  # the image's non-root user and group (Dockerfile)
PRE_STOP_SECONDS = 5  # time for endpoints and kube-proxy to stop routing to a stopping pod
DRAIN_SECONDS = 25  # `admit serve --drain-timeout`: in-flight reviews finish after SIGTERM

Object = dict[str, Any]


def serve_args(options: InstallOptions) -> list[str]:
    """The mounted bundle, or with ConfigMap sources every ConfigMap labelled POLICY_LABEL=true
    in admit's namespace (the server then reads them from the API, not from a volume)."""
    if options.configmap_sources:
        source = [
            "--configmaps",
            f"{POLICY_LABEL}=true",
            "--configmap-namespace",
            options.namespace,
        ]
    else:
        source = [BUNDLE_MOUNT]
    args = [
        "serve",
        *source,
        "--tls-cert",
        f"{TLS_MOUNT}/tls.crt",
        "--tls-key",
        f"{TLS_MOUNT}/tls.key",
        "--port",
        str(HTTPS_PORT),
    ]
    if options.console:
        args += ["--console-port", str(CONSOLE_PORT)]
    if _exposed(options):
        args += ["--console-host", "0.0.0.0", "--console-token-file", f"{CONSOLE_MOUNT}/token"]
        args += ["--console-tls"]
    if options.audit_interval:
        args += ["--audit-interval", f"{options.audit_interval:g}"]
        if options.report_api != "openreports":
            args += ["--report-api", options.report_api]
    return args


def _exposed(options: InstallOptions) -> bool:
    """Whether the console listens beyond the pod (with a token): else only `kubectl
    port-forward` reaches it, on the pod's loopback, and no Service port would answer."""
    return options.console and options.console_token_secret is not None


def _security_context() -> Object:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(options: InstallOptions) -> Object:
    ports = [{"name": "https", "containerPort": HTTPS_PORT, "protocol": "TCP"}]
    if _exposed(options):
        ports.append({"name": "console", "containerPort": CONSOLE_PORT, "protocol": "TCP"})
    bundle = {"name": "bundle", "mountPath": BUNDLE_MOUNT, "readOnly": True}
    mounts: list[Object] = [] if options.configmap_sources else [bundle]
    mounts += [
        {"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True},
        # Scratch space on a read-only root: multi-process metrics files, temporary files.
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if _exposed(options):
        mounts.append({"name": "console", "mountPath": CONSOLE_MOUNT, "readOnly": True})
    return {
        "name": "admit",
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "args": serve_args(options),
        # Without it `serve` starts one worker per CPU of the node, whatever the pod's limits.
        "env": [
            {"name": "ADMIT_WORKERS", "value": str(options.workers)},
            # The audit's Lease lives in admit's namespace.
            *(
                [{"name": "POD_NAMESPACE", "value": options.namespace}]
                if options.audit_interval
                else []
            ),
        ],
        "ports": ports,
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        # The apiserver keeps calling a pod until its endpoint is gone: wait for that first,
        # then SIGTERM lets the server drain.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "securityContext": _security_context(),
        "volumeMounts": mounts,
    }


def deployment(
    options: InstallOptions,
    items: Sequence[tuple[str, str]],
    *,
    api_token: bool,
) -> Object:
    """The server's Deployment. `items` maps each ConfigMap key of the bundle back to its path,
    so the mounted bundle keeps its subdirectories. An apply that changes only the bundle's
    content or the certificate restarts nothing: the server reloads both when their mounted
    files change (ConfigMap and Secret volumes are updated in place)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": options.metadata(options.service),
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": options.selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": options.labels},
                "spec": _pod_spec(options, items, api_token),
            },
        },
    }


def _pod_spec(options: InstallOptions, items: Sequence[tuple[str, str]], api_token: bool) -> Object:
    return {
        "serviceAccountName": options.service,
        "automountServiceAccountToken": api_token,
        "terminationGracePeriodSeconds": PRE_STOP_SECONDS + DRAIN_SECONDS + 5,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": options.selector},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        "containers": [_container(options)],
        "volumes": [
            *_bundle_volume(options, items),
            # 0440 with fsGroup: the key is readable by admit's group only.
            {
                "name": "tls",
                "secret": {"secretName": f"{options.service}-tls", "defaultMode": 0o440},
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            *_console_volume(options),
        ],
    }


def _console_volume(options: InstallOptions) -> list[Object]:
    if not _exposed(options):
        return []
    secret = {"secretName": options.console_token_secret, "defaultMode": 0o440}
    return [{"name": "console", "secret": secret}]


def _bundle_volume(options: InstallOptions, items: Sequence[tuple[str, str]]) -> list[Object]:
    if options.configmap_sources:
        return []  # the server reads the policy ConfigMaps from the API
    return [
        {
            "name": "bundle",
            "configMap": {
                "name": f"{options.service}-bundle",
                "items": [{"key": key, "path": path} for key, path in items],
            },
        }
    ]


def service(options: InstallOptions) -> Object:
    """Port 443 for the apiserver (and the console's port when it is exposed with a token)."""
    ports = [{"name": "https", "port": SERVICE_PORT, "targetPort": HTTPS_PORT, "protocol": "TCP"}]
    if _exposed(options):
        ports.append(
            {"name": "console", "port": CONSOLE_PORT, "targetPort": CONSOLE_PORT, "protocol": "TCP"}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": options.metadata(options.service),
        "spec": {"type": "ClusterIP", "selector": options.selector, "ports": ports},
    }


def pod_disruption_budget(options: InstallOptions) -> Object | None:
    """Keeps one replica through voluntary disruptions (node drains). None for one replica:
    `minAvailable: 1` over a single pod would block every drain of its node forever."""
    if options.replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": options.metadata(options.service),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": options.selector}},
    }
