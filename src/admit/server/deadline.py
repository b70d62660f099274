"""A per-request time budget for rules, enforced with SIGALRM in the worker's main thread.

The event loop and the rules run in the main thread, so a signal handler can raise
`RuleTimeout` inside a rule that overruns: the engine records that rule's error and the request
is still answered, as its `on_error` says. One interval timer ticks every `tick` seconds for the
life of the worker; arming and disarming only set two attributes (an `setitimer` pair per
request cost more than the rest of the deadline). Once the budget is spent, every later tick
interrupts whatever rule runs, so later rules get no fresh budget. A rule stuck in C code never
sees the signal; the supervisor's heartbeat check replaces such a worker.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from time import monotonic
from types import FrameType
from typing import TypeVar

from admit.core.errors import RuleTimeout

T = TypeVar("T")


class Deadline:
    """Arm before evaluating, disarm after; one evaluation runs at a time per process."""

    __slots__ = ("active", "seconds", "started", "tick")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(0.05, seconds / 4)  # how late past the budget a rule may be stopped
        self.active = False
        self.started = 0.0

    def install(self) -> None:
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.tick, self.tick)

    def arm(self) -> None:
        self.started = monotonic()
        self.active = True

    def disarm(self) -> None:
        while True:  # a tick may still raise before `active` is cleared
            try:
                self.active = False
                return
            except RuleTimeout:
                continue

    def run(self, work: Callable[[], T]) -> T:
        """`work()` within the budget; `RuleTimeout` escapes it when the budget ran out
        outside any rule (a rule that overruns records the timeout as its own error)."""
        self.arm()
        try:
            return work()
        finally:
            self.disarm()

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        if self.active and monotonic() - self.started >= self.seconds:
            raise RuleTimeout(f"exceeded the {self.seconds:g}s rule timeout")
