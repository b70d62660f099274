"""Disallow hostPorts Range (Alternate): where some host ports cannot be avoided, allow only a
known range of them. A container's `hostPort` must be unset, 0, or within `port_range`
(5000-6000 by default, as Kyverno's sample). An alternative to the Baseline Host Ports control,
which allows none: use one or the other."""

from collections.abc import Iterator
from typing import Annotated

import admit


def _valid_range(value: tuple[int, int]) -> str | None:
    """A parameter check (the type has made sure of two integers): a range of real ports."""
    low, high = value
    if not 1 <= low <= high <= 65535:
        return f"must be [lowest, highest] with 1 <= lowest <= highest <= 65535, not {list(value)}"
    return None


PortRange = Annotated[tuple[int, int], _valid_range]


@admit.validate("Pod")
def host_port_range(
    request: admit.Request, *, port_range: PortRange = (5000, 6000)
) -> Iterator[admit.Violation]:
    """Host ports, when set, must be within the allowed range."""
    low, high = port_range
    for c in request.containers:
        for j, port in enumerate(c.ports):
            host_port = port.hostPort
            if host_port not in (None, 0) and not (
                isinstance(host_port, int) and low <= host_port <= high
            ):
                yield admit.Violation(
                    f"The only permitted hostPorts are in the range {low}-{high}: "
                    f'container "{c.name}" uses hostPort {host_port}.',
                    f"{c.path}.ports[{j}].hostPort",
                )
