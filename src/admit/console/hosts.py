"""Which `Host` headers the console answers: its defence against DNS rebinding.

The console has no login: it trusts that only someone on the machine (or a port-forward) can
reach it. A web page can break that trust by pointing a name of its own at 127.0.0.1 (DNS
rebinding), after which the victim's browser sends the page's requests, and their answers, to
the console, with the attacker's name in `Host`. So the console answers only requests whose
`Host` is an IP address (no name was resolved to reach it), `localhost`, the name it was told
to listen on, or a name allowed explicitly (`--console-allowed-host`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

DEFAULT_NAMES = frozenset({"localhost"})


def host_names(listen_host: str, allowed: Iterable[str] = ()) -> frozenset[str]:
    """The names the console answers to, besides IP addresses."""
    names = set(DEFAULT_NAMES)
    for name in (listen_host, *allowed):
        host = _host_of(name.strip())
        if host and not _is_ip(host):
            names.add(host)
    return frozenset(names)


def host_allowed(header: bytes | None, names: frozenset[str]) -> bool:
    """Whether a request with this `Host` header may be answered (one without a Host header,
    which no browser sends, may)."""
    if header is None:
        return True
    host = _host_of(header.decode("latin-1"))
    return host is not None and (host in names or _is_ip(host))


def _host_of(value: str) -> str | None:
    """The host part of a Host header value (lower case, no port or trailing dot), or None when
    it is not one."""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal, perhaps with a port
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return value[1:end]
    name, colon, port = value.rpartition(":")
    if colon:
        if not port.isdigit() or ":" in name:
            return None
        value = name
    value = value.rstrip(".")
    return value or None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
