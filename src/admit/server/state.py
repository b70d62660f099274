"""What the supervisor and its workers know of each other: one slot per worker in shared memory,
and small JSON reports in the run directory.

A slot holds the worker's heartbeat, its state, the digest of the policy version it serves, and
the index of the rule it is running (so that when a rule ends its process, the supervisor knows
which rule did it). Workers write their own slot; the supervisor and every worker read them all,
so any worker can answer /readyz for the whole server. Reports (`current.json` from the policy
source, `supervisor.json` and `quarantine.json` from the supervisor) are replaced atomically.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from admit.core.engine import PolicySet

STARTING, SERVING, STOPPING = 0, 1, 2
_STATES = {STARTING: "starting", SERVING: "serving", STOPPING: "stopping"}
AGREEMENT_GRACE = 1.0  # seconds workers may serve different versions after a publish
NO_RULE = -1


class Slot(ctypes.Structure):
    _fields_ = [
        ("beat", ctypes.c_double),
        ("pid", ctypes.c_int),
        ("state", ctypes.c_int),
        ("rule", ctypes.c_int),
        ("digest", ctypes.c_char * 64),
    ]


class Slots:
    """The workers' slots, shared by the processes forked after it was made."""

    def __init__(self, count: int) -> None:
        self.array: Any = multiprocessing.RawArray(Slot, count)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int) -> Slot:
        slot: Slot = self.array[index]
        return slot

    def reset(self, index: int, pid: int = 0) -> None:
        slot = self.array[index]
        slot.beat, slot.pid, slot.state, slot.rule, slot.digest = time.monotonic(), pid, 0, -1, b""

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "slot": i,
                "pid": s.pid,
                "state": _STATES.get(s.state, "?"),
                "digest": s.digest.decode(),
            }
            for i, s in enumerate(self.array)
            if s.pid
        ]


class WorkerSlot:
    """A worker's own slot: heartbeat, state, served version and the running rule."""

    __slots__ = ("_slot",)

    def __init__(self, slot: Slot) -> None:
        self._slot = slot

    def beat(self) -> None:
        self._slot.beat = time.monotonic()

    def accepting(self) -> None:
        """The worker accepts connections from now on (a death is no longer a start-up failure)."""
        self._slot.state = SERVING

    def serves(self, policy_set: PolicySet) -> None:
        """The worker swapped `policy_set` in."""
        self._slot.digest = policy_set.digest.encode()[:64]

    def stopping(self) -> None:
        self._slot.state = STOPPING

    def done(self) -> None:
        """No rule runs now (called after each evaluation)."""
        self._slot.rule = NO_RULE

    def marked(self, policy_set: PolicySet) -> PolicySet:
        """The set with each rule writing its index into the slot as it starts (~0.1 µs a rule),
        so that a rule that ends the process is known to the supervisor."""
        slot = self._slot
        rules = [rule.configured(func=_marking(rule.func, i, slot)) for i, rule in
                 enumerate(policy_set.rules)]  # fmt: skip
        return policy_set.with_rules(rules)


def _marking(func: Callable[..., Any], index: int, slot: Slot) -> Callable[..., Any]:
    @functools.wraps(func)
    def marked(subject: Any, *data: Any, **arguments: Any) -> Any:  # data: see Rule.with_data
        slot.rule = index
        return func(subject, *data, **arguments)

    return marked


def agreement(slots: Slots, published: dict[str, Any] | None) -> str | None:
    """Why the serving workers do not agree on the published version, or None when they do
    (or the version was published less than a second ago and they are still switching from
    another one: a worker that serves none yet would deny everything, so it never agrees)."""
    if published is None:
        return None
    digest = published.get("digest", "")
    serving = [s for s in slots.array if s.pid and s.state == SERVING]
    behind = [s.pid for s in serving if s.digest.decode() != digest]
    switching = all(s.digest for s in serving)
    recent = time.time() - float(published.get("published") or 0) < AGREEMENT_GRACE
    if not behind or (switching and recent):
        return None
    return (
        f"worker{'s' if len(behind) > 1 else ''} {', '.join(map(str, behind))} still serve"
        f"{'' if len(behind) > 1 else 's'} another version than {digest[:12]}"
    )


def read_report(run_dir: Path | None, name: str) -> dict[str, Any] | None:
    """A JSON report of the run directory, or None."""
    if run_dir is None:
        return None
    try:
        value = orjson.loads((run_dir / f"{name}.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def write_report(run_dir: Path, name: str, report: dict[str, Any]) -> None:
    """Replace a report atomically (readers see the old or the new one)."""
    target = run_dir / f"{name}.json"
    scratch = run_dir / f".{name}.json.{os.getpid()}.tmp"
    scratch.write_bytes(orjson.dumps(report))
    os.replace(scratch, target)
