"""What the tools say about a bundle's policy exceptions that expired or expire soon: an expired
exception no longer applies (its objects are judged again), and one expiring within 7 days is
about to; `check`, `test` and `audit` print these notes on standard error and list every
exception in their JSON."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from admit.core.exceptions import PolicyException


def _within(seconds: float) -> str:
    days = math.ceil(seconds / 86400)
    return "within a day" if days <= 1 else f"in {days} days"


def exception_notes(exceptions: Iterable[PolicyException], now: float | None = None) -> list[str]:
    """One line per exception that expired or expires within 7 days."""
    now = time.time() if now is None else now
    notes = []
    for e in exceptions:
        who = f"exception {e.name} (owner {e.owner}, {e.source})"
        if e.expired(now):
            notes.append(f"{who} expired on {e.expires_text}: it no longer applies")
        elif e.expiring(now):
            notes.append(f"{who} expires on {e.expires_text}, {_within(e.expires - now)}")
    return notes


def exceptions_json(
    exceptions: Iterable[PolicyException], now: float | None = None
) -> list[dict[str, Any]]:
    """Every exception with its state: `expired`, `expiring` (within 7 days) or `active`."""
    now = time.time() if now is None else now
    return [
        {
            **e.as_json(now),
            "state": "expired" if e.expired(now) else "expiring" if e.expiring(now) else "active",
        }
        for e in exceptions
    ]
