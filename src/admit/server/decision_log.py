"""The decision log: one JSON line per admission decision, to stdout or a file.

The request path only keeps a tuple of the values a line needs; the worker's flush chore (every
0.2 s, or when 1,024 decisions wait) turns them into JSON lines and writes them in one `write`.
Building a line costs several times more inside a busy server than in a tight loop, where the
flush does it, with warm caches.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import orjson

from admit.core.decision import Decision
from admit.core.review import Request

_PENDING = 1024


class DecisionLog:
    """Appends decision lines to a file descriptor (stdout when the target is `-`)."""

    def __init__(self, target: str | None) -> None:
        self.enabled = target is not None
        self._owned = False
        if target in (None, "-"):
            self._fd = sys.stdout.fileno()
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._owned = True
        self._pending: list[tuple[Any, ...]] = []

    def record(
        self, request: Request, decision: Decision, *, endpoint: str, seconds: float, bundle: str
    ) -> None:
        if not self.enabled:
            return
        raw = request.raw
        self._pending.append(
            (
                time.time(),
                raw.get("uid"),
                endpoint,
                request.operation,
                request.kind,
                request.namespace,
                request.name,
                raw.get("userInfo"),
                request.dry_run,
                decision,
                seconds,
                bundle,
            )
        )
        if len(self._pending) >= _PENDING:
            self.flush()

    @staticmethod
    def line(entry: tuple[Any, ...]) -> bytes:
        """The JSON line of one recorded decision."""
        (
            at,
            uid,
            endpoint,
            operation,
            kind,
            namespace,
            name,
            user,
            dry_run,
            decision,
            seconds,
            bundle,
        ) = entry
        user = user or {}
        group, version, kind_name = kind
        return (
            orjson.dumps(
                {
                    "time": at,
                    "uid": uid or "",
                    "endpoint": endpoint,
                    "operation": operation,
                    "kind": f"{group}/{version}/{kind_name}" if group else f"{version}/{kind_name}",
                    "namespace": namespace,
                    "name": name,
                    "user": user.get("username") or "",
                    "groups": user.get("groups") or [],
                    "dry_run": dry_run,
                    "allowed": decision.allowed,
                    "results": [
                        {
                            "policy": r.policy,
                            "rule": r.rule,
                            "result": r.result,
                            "action": r.action,
                            "messages": [v.message for v in r.violations] or None,
                            "error": r.error,
                            "us": r.duration_ns // 1000,
                        }
                        for r in decision.results
                    ],
                    "patch": len(decision.patch),
                    "latency_ms": round(seconds * 1000, 3),
                    "bundle": bundle[:12],
                }
            )
            + b"\n"
        )

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        data = b"".join(self.line(entry) for entry in pending)
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError:  # a closed stdout must not take the server down
            pass

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)
