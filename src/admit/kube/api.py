"""Connecting to kube-apiserver: lightkube reads kubeconfig or the in-cluster service account
and builds an authenticated httpx client; admit talks plain list/watch through it."""

from __future__ import annotations

import os
from typing import Any

import httpx2 as httpx  # lightkube's HTTP client (a maintained httpx fork)

from admit.core.errors import AdmitError


class ClusterAccessError(AdmitError):
    """No usable cluster configuration (kubeconfig or in-cluster service account)."""

    code = "cluster_access"
    exit_code = 2


def _config(kubeconfig: str | os.PathLike[str] | None) -> Any:
    """The current context of `kubeconfig`, else in-cluster config, else `$KUBECONFIG` or
    `~/.kube/config`; `ClusterAccessError` when there is none."""
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.core.exceptions import ConfigError

    try:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        single = config.get()
    except (ConfigError, OSError) as exc:
        raise ClusterAccessError(f"cannot configure access to the cluster: {exc}") from None
    if single is None:
        raise ClusterAccessError("the kubeconfig has no current context")
    return single


def connect(
    kubeconfig: str | os.PathLike[str] | None = None, *, timeout: float = 30
) -> httpx.AsyncClient:
    """An authenticated client for the cluster (see `_config` for where it is looked up)."""
    from lightkube.config.client_adapter import AsyncClient, ConnectionParams

    params: Any = ConnectionParams(timeout=httpx.Timeout(timeout, read=None))
    return AsyncClient(_config(kubeconfig), params)


def check_access(kubeconfig: str | os.PathLike[str] | None = None) -> str:
    """The API server URL the configuration points at; `ClusterAccessError` when there is none."""
    return str(_config(kubeconfig).cluster.server)


def collection_path(group: str, version: str, plural: str, namespace: str | None = None) -> str:
    """The REST path of a collection: `/api/v1/pods`, `/apis/apps/v1/namespaces/x/deployments`."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
