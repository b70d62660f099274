"""What happens beside the answer to an admission request: metrics, the decision log, the
console's feed and the log of rule errors are observers, each called with the `Admission` just
decided, after the answer is encoded. Each keeps its own memory bounded, and none can fail a
request, except by naming a fault of the request itself that only it found (a deferred
oldObject that is not JSON, read for the decision log: `InvalidRequest`, a 400).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from admit.core.decision import Decision
from admit.core.review import Request

log = logging.getLogger("admit.server")


class Admission:
    """One admission request as the observers see it: what was asked, what was decided, how
    (the body as received, the endpoint, the seconds it took, the policy version's digest)."""

    __slots__ = ("body", "bundle", "decision", "endpoint", "request", "seconds")

    def __init__(
        self,
        request: Request,
        decision: Decision,
        body: bytes,
        endpoint: str,
        seconds: float,
        bundle: str,
    ) -> None:
        self.request = request
        self.decision = decision
        self.body = body
        self.endpoint = endpoint
        self.seconds = seconds
        self.bundle = bundle


# An observer: `Metrics.observe`, `DecisionLog.observe`, `FeedPublisher.observe`, `rule_errors`.
Observer = Callable[[Admission], object]


TRACEBACK_LINES = 60  # a rule recursing deeply gives thousands: its last ones tell why


def rule_errors(seen: Admission) -> None:
    """The traceback of each rule that failed, to the server's log (never to the caller)."""
    for r in seen.decision.results:
        if r.result == "error":
            lines = (r.traceback or "").splitlines()
            if len(lines) > TRACEBACK_LINES:
                cut = len(lines) - TRACEBACK_LINES
                lines = [lines[0], f"  ... {cut} lines left out ...", *lines[-TRACEBACK_LINES:]]
            text = "\n".join(lines)
            log.error("rule %s failed on request %s:\n%s", r.key, seen.request.uid, text)
