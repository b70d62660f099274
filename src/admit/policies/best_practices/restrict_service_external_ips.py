"""Restrict Service external IPs: anyone who may create a Service can claim any external IP and
intercept its traffic (CVE-2020-8554), so external IPs are refused unless allow-listed."""

from collections.abc import Iterator

import admit


@admit.validate("Service")
def check_ips(
    request: admit.Request, *, allowed_ips: tuple[str, ...] = ()
) -> Iterator[admit.Violation]:
    """externalIPs are not allowed."""
    for i, ip in enumerate(request.object.spec.externalIPs):
        if ip not in allowed_ips:
            yield admit.Violation(f"externalIPs are not allowed: {ip}", f"spec.externalIPs[{i}]")
