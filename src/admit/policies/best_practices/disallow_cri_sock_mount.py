"""Disallow CRI socket mounts: the container runtime's socket lets a pod start privileged
containers on its node outside Kubernetes. Mounting a directory above the socket exposes it
just the same, so those mounts are refused too."""

from collections.abc import Iterator
from posixpath import normpath

import admit

SOCKETS = {
    "/var/run/docker.sock": "Docker Unix socket",
    "/var/run/containerd/containerd.sock": "Containerd Unix socket",
    "/var/run/crio/crio.sock": "CRI-O Unix socket",
    "/var/run/cri-dockerd.sock": "Docker CRI socket",
}


def _exposed(path: str) -> str | None:
    """The socket a hostPath exposes (`/run` is `/var/run` on every distribution), if any."""
    clean = normpath(path)
    if clean == "/run" or clean.startswith("/run/"):
        clean = "/var" + clean
    for socket, name in SOCKETS.items():
        if socket == clean or socket.startswith(clean.rstrip("/") + "/"):
            return name
    return None


@admit.validate("Pod")
def validate_cri_sock_mount(request: admit.Request) -> Iterator[admit.Violation]:
    """Use of a container runtime socket is not allowed."""
    for i, volume in enumerate(request.object.spec.volumes):
        path = volume.hostPath.path
        exposed = _exposed(str(path)) if path else None
        if exposed:
            yield admit.Violation(
                f'Use of the {exposed} is not allowed: volume "{volume.name}" mounts {path}.',
                f"spec.volumes[{i}].hostPath.path",
            )
