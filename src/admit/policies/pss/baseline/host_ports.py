"""PSS Baseline, Host Ports: a host port binds the node's network interface, bypassing network
policies and colliding with other pods; only 0 (none) is allowed."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def host_ports(request: admit.Request) -> Iterator[admit.Violation]:
    """Containers must not use host ports."""
    for c in request.containers:
        for j, port in enumerate(c.ports):
            if port.hostPort not in (None, 0):
                yield admit.Violation(
                    f'container "{c.name}" must not use hostPort {port.hostPort}',
                    f"{c.path}.ports[{j}].hostPort",
                )
