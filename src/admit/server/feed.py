"""The decision feed: how every worker's decisions reach the console process.

A worker queues each decision and, a few times a second, sends the queue as datagrams (a JSON
record and the AdmissionReview body per decision) to a UNIX datagram socket the console owns;
the console (`admit.console.decisions`) keeps the last few hundred and fans them out to its live
streams. The admission path must never block or fail because of the console: queueing is an
append, sending is non-blocking, and everything that goes wrong (console absent, slow or
restarting, entry too large or not encodable) drops the entry and counts it. Only a worker
started with a console publishes at all. What the console shows of a request has its Secrets
redacted (`expand`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import time
from typing import Any

import orjson

from admit.core.decision import Decision
from admit.core.review import Request
from admit.server.observers import Admission
from admit.server.redact import is_secret, redact_object, redact_patch

log = logging.getLogger("admit.feed")
MAX_DATAGRAM = 60 * 1024  # under the default UNIX datagram limits (net.core.wmem_default)
MAX_BODY = 48 * 1024  # an AdmissionReview bigger than this reaches the console without it
_NOISE = ("managedFields",)  # metadata nobody debugs a policy with, and the bulk of a request
MAX_PENDING = 512  # decisions a worker queues between flushes; more are dropped
FLUSH_EVERY = 0.1  # seconds between a worker's sends: the live stream's extra delay
_RETRY_ABSENT = 1.0  # seconds between attempts to reach a console that is not there
MAX_VIOLATIONS = 20  # per rule in a record: one violation per container can be thousands
MAX_TEXT = 1024  # characters of a message, warning or error in a record
_PID = [os.getpid()]  # refreshed by each FeedPublisher: workers are forked after the import


def _trimmed(obj: Any) -> Any:
    """The object without managedFields (the bulk of a request, and never what a policy is
    debugged with)."""
    if not isinstance(obj, dict):
        return obj
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and any(k in metadata for k in _NOISE):
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k not in _NOISE}}
    return obj


def _cut(text: Any) -> Any:
    return text[:MAX_TEXT] if isinstance(text, str) and len(text) > MAX_TEXT else text


def record(decision: Decision, *, endpoint: str, seconds: float, bundle: str) -> dict[str, Any]:
    """What a worker sends about a decision: only what the request body cannot tell (rule
    outcomes, messages, paths, patch, timings), each rule's violations and every text cut to a
    bound (`violations_omitted` counts the rest). Built by the flush chore, off the request
    path."""
    results = []
    for r in decision.results:
        violations = [(_cut(v.message), v.path, v.level) for v in r.violations[:MAX_VIOLATIONS]]
        row = [r.policy, r.rule, r.result, r.action, violations, _cut(r.error), r.location,
               r.duration_ns // 1000]  # fmt: skip
        if len(r.violations) > MAX_VIOLATIONS:
            row.append(len(r.violations) - MAX_VIOLATIONS)
        results.append(row)
    return {
        "time": time.time(),
        "endpoint": endpoint,
        "allowed": decision.allowed,
        "message": _cut(decision.message),
        "warnings": [_cut(w) for w in decision.warnings[:MAX_VIOLATIONS]],
        "results": results,
        "patch": decision.patch,
        "eval_us": decision.duration_ns // 1000,
        "latency_ms": round(seconds * 1000, 3),
        "bundle": bundle[:12],
        "pid": _PID[0],
    }


_RESULT_FIELDS = ("policy", "rule", "result", "action", "violations", "error", "location", "us",
                  "violations_omitted")  # fmt: skip


def expand(sent: dict[str, Any], raw: Any) -> dict[str, Any]:
    """The console's entry for a decision: the worker's record, with rule results as objects
    and the request's identity (kind, namespace, name, user…) and the request itself, trimmed
    of managedFields and with its Secrets redacted, taken from the AdmissionRequest `raw` (None
    when it was left out)."""
    entry = dict(sent)
    entry["results"] = [dict(zip(_RESULT_FIELDS, r, strict=False)) for r in sent["results"]]
    fields = raw if isinstance(raw, dict) else {}
    request = Request(fields)
    user = request.user
    secret = (request.kind[0], request.kind[2]) == ("", "Secret") or any(
        is_secret(fields.get(side)) for side in ("object", "oldObject")
    )
    entry.update(
        uid=request.uid,
        operation=request.operation,
        kind="/".join(p for p in request.kind if p),
        namespace=request.namespace,
        name=request.name,
        user=user.username,
        groups=list(user.groups),
        dry_run=request.dry_run,
        patch=redact_patch(sent.get("patch"), secret=secret),
    )
    if isinstance(raw, dict):
        trimmed = {k: v for k, v in raw.items() if k not in ("object", "oldObject")}
        trimmed["object"] = redact_object(_trimmed(raw.get("object")), secret=secret)
        trimmed["oldObject"] = redact_object(_trimmed(raw.get("oldObject")), secret=secret)
        entry["request"] = trimmed
    else:
        entry["request"] = {"object": None, "oldObject": None}
    return entry


_FRAME = struct.Struct("!II")  # lengths of the record and of the body that follow


def encode(sent: dict[str, Any], body: bytes) -> bytes | None:
    """One frame: the record's JSON, then the AdmissionReview body exactly as the worker
    received it (re-encoding the request would cost more than evaluating the seed policy; the
    console parses and trims it). A body over the cap is left out and its size said; None if
    even the record alone does not fit in a datagram."""
    if len(body) > MAX_BODY:
        sent = {**sent, "request_omitted": f"{len(body)} bytes, over the feed's cap"}
        body = b""
    try:
        data = orjson.dumps(sent)
    except orjson.JSONEncodeError:  # a patch nested too deep or holding what JSON cannot
        return None
    if _FRAME.size + len(data) + len(body) > MAX_DATAGRAM:
        return None
    return _FRAME.pack(len(data), len(body)) + data + body


def decode(datagram: bytes) -> list[dict[str, Any]]:
    """The console's entries (see `expand`) for the frames of a datagram; unreadable ones are
    skipped."""
    entries, offset = [], 0
    while offset + _FRAME.size <= len(datagram):
        head, size = _FRAME.unpack_from(datagram, offset)
        offset += _FRAME.size
        data, body = (
            datagram[offset : offset + head],
            datagram[offset + head : offset + head + size],
        )
        offset += head + size
        try:
            sent = orjson.loads(data)
            review = orjson.loads(body) if body else None
            if isinstance(sent, dict) and isinstance(sent.get("results"), list):
                raw = review.get("request") if isinstance(review, dict) else None
                entries.append(expand(sent, raw))
        except Exception:  # a frame the console cannot read costs that entry only
            log.exception("decision feed: an unreadable entry was skipped")
    return entries


class FeedPublisher:
    """A worker's end. `publish` only queues (well under a microsecond on the request path);
    `flush`, a worker chore every `FLUSH_EVERY` seconds, encodes the queue and sends it packed
    into as few datagrams as fit, on one unconnected non-blocking socket (the console may
    restart and rebind its path at any time; `sendto` by path finds the current one)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.sent = 0
        self.dropped = 0
        self._pending: list[tuple[float, Decision, bytes, str, float, str]] = []
        self._absent_until = 0.0
        _PID[0] = os.getpid()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024 * 1024)

    def observe(self, seen: Admission) -> None:
        """An observer of admissions (see `observers`): queue the decision and the body it
        judged for the console; never raises, never blocks; drops it when the queue is full
        (no console, or one that cannot keep up)."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(
            (time.time(), seen.decision, seen.body, seen.endpoint, seen.seconds, seen.bundle)
        )

    def flush(self) -> None:
        """Send what is queued; what cannot be sent is dropped and counted, never retried."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        if time.monotonic() < self._absent_until:
            self.dropped += len(pending)
            return
        batch: list[bytes] = []
        size = 0
        for when, decision, body, endpoint, seconds, bundle in pending:
            sent = record(decision, endpoint=endpoint, seconds=seconds, bundle=bundle)
            sent["time"] = when
            frame = encode(sent, body)
            if frame is None:
                self.dropped += 1
                continue
            if batch and size + len(frame) > MAX_DATAGRAM:
                self._send(batch)
                batch, size = [], 0
            batch.append(frame)
            size += len(frame)
        if batch:
            self._send(batch)

    def _send(self, frames: list[bytes]) -> None:
        if time.monotonic() < self._absent_until:
            self.dropped += len(frames)
            return
        try:
            self._sock.sendto(b"".join(frames), self.path)
            self.sent += len(frames)
        except (FileNotFoundError, ConnectionRefusedError):  # no console (yet, or restarting)
            self.dropped += len(frames)
            self._absent_until = time.monotonic() + _RETRY_ABSENT
        except OSError:  # a console that cannot keep up (EAGAIN, ENOBUFS): its loss, not ours
            self.dropped += len(frames)

    def close(self) -> None:
        self._sock.close()
