"""What happens beside the answer to a request: metrics, the decision log, the console's feed
and the log of rule errors are observers, each called with the `Admission` just decided, after
the answer is encoded; the decision log and the error log also observe each decision of the
data API (`DataDecision`). Each keeps its own memory bounded, and none can fail a request,
except by naming a fault of the request itself that only it found (a deferred oldObject that is
not JSON, read for the decision log: `InvalidRequest`, a 400).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from admit.core.decision import Decision
from admit.core.document import Evaluated
from admit.core.engine import PolicySet
from admit.core.review import Request

log = logging.getLogger("admit.server")
TRACEBACK_LINES = 60  # a rule recursing deeply gives thousands: its last ones tell why


class Admission:
    """One admission request as the observers see it: what was asked, what was decided, how
    (the body as received, the endpoint, the seconds it took, the policy version's digest and
    set), the encoded answer and who asked (`host:port`)."""

    __slots__ = ("answer", "body", "bundle", "decision", "endpoint", "policy_set", "request",
                 "requested_by", "seconds")  # fmt: skip

    def __init__(
        self,
        request: Request,
        decision: Decision,
        body: bytes,
        endpoint: str,
        seconds: float,
        bundle: str,
        *,
        answer: bytes = b"",
        requested_by: str = "",
        policy_set: PolicySet | None = None,
    ) -> None:
        self.request = request
        self.decision = decision
        self.body = body
        self.endpoint = endpoint
        self.seconds = seconds
        self.bundle = bundle
        self.answer = answer
        self.requested_by = requested_by
        self.policy_set = policy_set  # the set that judged it (its bundles, its log policies)


class DataDecision:
    """One decision of the data API as the observers see it: its id (empty when decisions are
    not logged), the path asked, the input (`document.UNDEFINED`: none), who asked, and what
    came of it: the result if `defined`, the error answered, the decisions run, OPA's timers."""

    __slots__ = ("bundles", "cause", "decision_id", "defined", "error", "evaluated", "input",
                 "metrics", "path", "policy_set", "requested_by", "result")  # fmt: skip

    def __init__(
        self,
        *,
        decision_id: str,
        path: str,
        input: Any,
        requested_by: str,
        bundles: Mapping[str, str],
        policy_set: PolicySet,
    ) -> None:
        self.decision_id = decision_id
        self.path = path
        self.input = input
        self.requested_by = requested_by
        self.bundles = bundles
        self.policy_set = policy_set
        self.defined = False
        self.result: Any = None
        self.error: dict[str, Any] | None = None
        self.cause: BaseException | None = None  # what a failing decision raised
        self.evaluated: tuple[Evaluated, ...] = ()
        self.metrics: dict[str, int] = {}


Observer = Callable[[Admission], object]
DataObserver = Callable[[DataDecision], object]


def data_errors(seen: DataDecision) -> None:
    """The traceback of a decision that raised, to the server's log (never to the caller)."""
    if seen.cause is not None:
        text = "".join(traceback.format_exception(seen.cause)).splitlines()
        if len(text) > TRACEBACK_LINES:
            text = [text[0], "  ...", *text[-TRACEBACK_LINES:]]
        log.error("decision %s failed:\n%s", seen.path, "\n".join(text))


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


def notify_data(observers: tuple[DataObserver, ...], seen: DataDecision) -> None:
    """Tell every data observer; one that fails is logged and the others still run."""
    for observe in observers:
        try:
            observe(seen)
        except Exception:
            log.exception("an observer of decisions failed (%r); the answer is unaffected", observe)
