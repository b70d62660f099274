"""The decision log: one JSON line per admission decision, to stdout or a file.

Lines are buffered and written in whole-line batches (each batch one `write`) at most every
`interval` seconds or every 64 KiB, so logging costs the request path one small append.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import orjson

from admit.core.decision import Decision
from admit.core.review import Request

_BATCH = 64 * 1024


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
        self._buffer: list[bytes] = []
        self._size = 0

    def record(
        self, request: Request, decision: Decision, *, endpoint: str, seconds: float, bundle: str
    ) -> None:
        if not self.enabled:
            return
        user = request.user
        entry: dict[str, Any] = {
            "time": time.time(),
            "uid": request.uid,
            "endpoint": endpoint,
            "operation": request.operation,
            "kind": "/".join(p for p in request.kind if p),
            "namespace": request.namespace,
            "name": request.name,
            "user": user.username,
            "groups": list(user.groups),
            "dry_run": request.dry_run,
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
        line = orjson.dumps(entry) + b"\n"
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
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
