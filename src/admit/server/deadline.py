"""A per-request time budget for rules, enforced with SIGALRM in the worker's main thread.

The event loop and the rules run in the main thread, so an interval timer can raise
`RuleTimeout` inside a rule that overruns: the engine records that rule's error and the request
is still answered, as its `on_error` says. Until evaluation ends the timer keeps firing every
10 ms, so later rules get no fresh budget. A rule stuck in C code never sees the signal; the
supervisor's heartbeat check replaces such a worker.
"""

from __future__ import annotations

import signal
from types import FrameType

from admit.core.errors import RuleTimeout

_REPEAT = 0.01


class Deadline:
    """Arm before evaluating, disarm after; only one evaluation runs at a time per process."""

    __slots__ = ("active", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = False

    def install(self) -> None:
        signal.signal(signal.SIGALRM, self._fire)

    def arm(self) -> None:
        self.active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        while True:  # a pending alarm may still raise before `active` is cleared
            try:
                self.active = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                return
            except RuleTimeout:
                continue

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, _REPEAT)
            raise RuleTimeout(f"exceeded the {self.seconds:g}s rule timeout")
