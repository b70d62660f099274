"""The decision log: one JSON line per admission decision, to stdout or a file.

Lines are buffered and written in whole-line batches (each batch one `write`) at most every
`interval` seconds or every 64 KiB, so logging costs the request path one small append. A line
is built straight from the decoded request, and the constant part of each passing rule's entry
is serialised once: the log costs a few microseconds per decision. Its caches are bounded (the
request decides their keys), and it never fails the request it records: a line it cannot build
is counted and the first one logged.

With `requests` (`admit serve --decision-log-requests`) each line also holds the whole
AdmissionRequest, Secret data and the last-applied annotation redacted (`admit.server.redact`),
so `admit replay` can judge the recorded traffic again with another bundle. A line always lists
the warnings the request was answered with, so a replay can tell new ones.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

from admit.core.outcome import RuleResult
from admit.core.review import Request
from admit.core.shape import InvalidRequest
from admit.server.observers import Admission
from admit.server.redact import redact_object

log = logging.getLogger("admit.server")
_BATCH = 64 * 1024
_PREFIX_LIMIT = 4096  # cached entry prefixes (rules x outcomes); past it entries are built anew
_KIND_LIMIT = 1024  # cached kind names; past it (random kinds sent to the port) built anew


def recorded_request(request: Request) -> dict[str, Any]:
    """The AdmissionRequest as the log keeps it: whole, its secrets redacted."""
    raw = dict(request.raw)
    secret = request.kind[0] == "" and request.kind[2] == "Secret"
    for field in ("object", "oldObject"):
        if raw.get(field) is not None:
            raw[field] = redact_object(raw[field], secret=secret)
    return raw


class DecisionLog:
    """Appends decision lines to a file descriptor (stdout when the target is `-`)."""

    def __init__(self, target: str | None, *, requests: bool = False) -> None:
        self.enabled = target is not None
        self.requests = requests
        self._owned = False
        if target in (None, "-"):
            self._fd = sys.stdout.fileno()
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._owned = True
        self._buffer: list[bytes] = []
        self._size = 0
        self._kinds: dict[tuple[str, str, str], str] = {}
        self._prefixes: dict[tuple[str, str, str, str], bytes] = {}
        self.failed = 0  # decisions whose line could not be built

    def observe(self, seen: Admission) -> None:
        """An observer of admissions (see `observers`): queue the decision's line. Only the
        request's own fault, found while reading it (a deferred oldObject that is not JSON), is
        raised; any other failure is counted."""
        if not self.enabled:
            return
        request, decision, endpoint = seen.request, seen.decision, seen.endpoint
        seconds, bundle = seen.seconds, seen.bundle
        try:  # the line is built inline: a call of its own would cost ~1k instructions
            user = request.user
            kind = self._kinds.get(request.kind)
            if kind is None:
                kind = "/".join(p for p in request.kind if p)
                if len(self._kinds) < _KIND_LIMIT:
                    self._kinds[request.kind] = kind
            head = {
                "time": time.time(),
                "uid": request.uid,
                "endpoint": endpoint,
                "operation": request.operation,
                "kind": kind,
                "namespace": request.namespace,
                "name": request.name,
                "user": user.username,
                "groups": user.groups,
                "dry_run": request.dry_run,
                "allowed": decision.allowed,
                "patch": len(decision.patch),
                "latency_ms": int(seconds * 1e6) / 1000,
                "bundle": bundle[:12],
            }
            if decision.warnings:
                head["warnings"] = decision.warnings
            if self.requests:
                head["request"] = recorded_request(request)
            parts = []
            prefixes = self._prefixes
            for r in decision.results:
                if r.violations or r.error:
                    parts.append(self._entry(r))
                else:  # a passing or skipped rule: its cached constant part and its time
                    prefix = prefixes.get(r[:4]) or self._prefix(r)
                    parts.append(b"%s%d}" % (prefix, r.duration_ns // 1000))
            results = b",".join(parts)
            line = b"".join((orjson.dumps(head)[:-1], b',"results":[', results, b"]}\n"))
        except InvalidRequest:  # the request's own fault, found reading it (a malformed oldObject)
            raise
        except Exception:
            self.failed += 1
            if self.failed == 1 or self.failed % 1000 == 0:
                log.exception("decision log: no line for request %r (%d so far)", request.uid,
                              self.failed)  # fmt: skip
            return
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= _BATCH:
            self.flush()

    def _entry(self, r: RuleResult) -> bytes:
        """The whole entry of a rule with messages or an error (or an exception)."""
        entry: dict[str, Any] = {
            "policy": r.policy,
            "rule": r.rule,
            "result": r.result,
            "action": r.action,
            "messages": [v.message for v in r.violations] or None,
            "error": r.error,
            "us": r.duration_ns // 1000,
        }
        if r.exception is not None:
            entry["exception"] = r.exception.describe()
        return orjson.dumps(entry)

    def _prefix(self, r: RuleResult) -> bytes:
        """The constant part of a passing or skipped rule's entry, up to its time (cached)."""
        entry = {"policy": r.policy, "rule": r.rule, "result": r.result, "action": r.action}
        prefix = orjson.dumps(entry)[:-1] + b',"messages":null,"error":null,"us":'
        if len(self._prefixes) < _PREFIX_LIMIT:
            self._prefixes[r[:4]] = prefix  # keyed by (policy, rule, result, action)
        return prefix

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
