"""Policy levels and versions as Pod Security admission reads them from namespace labels.

A version is `latest` or `v1.N`; only the minor number matters, since every check is keyed by
the first minor it applies to. A version newer than the newest the checks know means the
newest, as in PSA, and `latest` is that newest.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")

# The newest policy version the checks define: v1.37 allows two more sysctls. A 1.36 API
# server's `latest` behaves as v1.36 (= v1.35); pin `v1.36` to match it exactly.
NEWEST = 37
_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)")


@cache
def minor_of(version: str) -> int:
    """The minor number `version` stands for (`latest` is `NEWEST`); ValueError if malformed."""
    if version == "latest":
        return NEWEST
    found = _VERSION.fullmatch(version)
    if found is None:
        raise ValueError(f'must be "latest" or "v1.x" (a Kubernetes minor), not {version!r}')
    return min(int(found.group(1)), NEWEST)


def check_version(value: object) -> str | None:
    """A parameter check: the problem with `value` as a policy version, or None."""
    if not isinstance(value, str):
        return f'must be "latest" or "v1.x", not {value!r}'
    try:
        minor_of(value)
    except ValueError as exc:
        return str(exc)
    return None
