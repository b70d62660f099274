"""The decision log: one JSON object per decision, admission and data API alike, in OPA's
decision-log event format (docs/opa.md lists every field, docs/decision-log.schema.json is
their schema), to stdout or a file and, with an uploader (`decision_upload`), to an HTTP
service as OPA's decision log plugin sends them.

An event holds OPA's fields (`decision_id`, `path`, `input`, `result`, `timestamp` in RFC 3339
with nanoseconds, `requested_by`, `labels`, `bundles`, `metrics`, `erased`, `masked`) and
admit's own (the request's identity and each rule's outcome and time). An admission's `input`
is the AdmissionReview as received and its `result` the AdmissionReview answered; a Secret's
data and the last-applied annotation are redacted from both. Configured JSON pointers and a
bundle's `system/log/mask` decision erase or mask parts of an event; `system/log/drop` drops
one; an event past `max_event_bytes` loses its input, then its result, then is dropped
(counted).

Built for speed: an admission line is joined from bytes already at hand (the body, the
encoded answer, cached label and bundle parts, each passing rule's cached entry) unless it
needs redacting or masking (figures in bench/README.md). Lines are written in whole-line
batches (each batch one `write`) when the worker flushes (every 0.2 s) or every 64 KiB. It never
fails the request it records: a line it cannot build is counted and the first one logged.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import orjson

from admit.core.document import UNDEFINED, read
from admit.core.engine import PolicySet
from admit.core.outcome import RuleResult
from admit.core.shape import InvalidRequest
from admit.server.masking import apply_masks, valid_pointer
from admit.server.observers import Admission, DataDecision
from admit.server.redact import LAST_APPLIED, REDACTED, is_secret, redact_object, redact_patch

log = logging.getLogger("admit.server")
_BATCH = 64 * 1024
_PREFIX_LIMIT = 4096  # cached entry prefixes (rules x outcomes); past it entries are built anew
_KIND_LIMIT = 1024  # cached kind names; past it (random kinds sent to the port) built anew
_LAST_APPLIED = LAST_APPLIED.encode()
# The annotation as a key of a JSON object (quoted: inside a string, a quote is escaped, so text
# that merely mentions it never matches), and the string value that follows it.
_LAST_APPLIED_KEY = b'"' + _LAST_APPLIED + b'"'
_VALUE_START = re.compile(rb'\s*:\s*"')
_REDACTED_VALUE = b':"' + REDACTED.encode() + b'"'
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_PATHS = {"/validate": "admission/validate", "/mutate": "admission/mutate"}
MASK_DECISION = "system/log/mask"
DROP_DECISION = "system/log/drop"
_NONE: Mapping[str, str] = {}
_MASK = tuple(MASK_DECISION.split("/"))
_DROP = tuple(DROP_DECISION.split("/"))


@dataclass(frozen=True, slots=True)
class DecisionLogSettings:
    """What goes into each event: `labels` (OPA's: the instance `id`, admit's `version`, and the
    user's), whether the `input` is logged, JSON pointers to erase from every event, and the
    size past which an event is cut (input, then result) or dropped."""

    labels: Mapping[str, str] = field(default_factory=dict)
    include_input: bool = False  # opt in: it costs 50-110k instructions a line (bench/README)
    mask: tuple[str, ...] = ()
    max_event_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        bad = [p for p in self.mask if not valid_pointer(p)]
        if bad:
            raise ValueError(
                f"decision-log mask {', '.join(bad)}: a mask is a JSON pointer under /input or "
                "/result, like /input/request/object/spec"
            )
        if self.max_event_bytes < 1024:
            raise ValueError("the largest decision-log event must be at least 1024 bytes")


def new_decision_id() -> str:
    """A random (version 4) UUID, as OPA's decision ids: 1 µs, where `str(uuid.uuid4())` took
    2.5."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _cut_last_applied(body: bytes, at: int) -> bytes:
    """`body` (ASCII JSON) with the value of every last-applied annotation redacted, the first
    key being at `at`: keys found by a byte search, the end of each string value by the json
    module's C scanner. ~5 µs for an UPDATE's two annotations, where decoding and encoding the
    review cost ~20."""
    parts: list[bytes] = []
    start, text, base = 0, "", at
    while at >= 0:
        end = at + len(_LAST_APPLIED_KEY)
        value = _VALUE_START.match(body, end)
        if value is not None:
            text = text or body[base:].decode("ascii")  # ASCII: offsets are byte offsets
            parts += (body[start:end], _REDACTED_VALUE)
            end = base + scanstring(text, value.end() - base)[1]
        else:
            parts.append(body[start:end])
        start = end
        at = body.find(_LAST_APPLIED_KEY, start)
    parts.append(body[start:])
    return b"".join(parts)


class DecisionLog:
    """Writes decision events to a file descriptor (stdout when the target is `-`) and hands
    each to `ship` (an uploader's `add`), when given."""

    def __init__(
        self,
        target: str | None,
        settings: DecisionLogSettings | None = None,
        *,
        ship: Callable[[bytes], None] | None = None,
    ) -> None:
        self.settings = settings or DecisionLogSettings()
        self.ship = ship
        self.enabled = target is not None or ship is not None
        self._fd: int | None = None
        self._owned = False
        if target == "-":
            self._fd = sys.stdout.fileno()
        elif target is not None:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._owned = True
        self._buffer: list[bytes] = []
        self._size = 0
        self._kinds: dict[tuple[str, str, str], str] = {}
        self._prefixes: dict[tuple[str, str, str, str], bytes] = {}
        self._labels = orjson.dumps(dict(self.settings.labels))
        self._bundles: tuple[Mapping[str, str] | None, bytes] = (None, b"{}")
        self._second = -1
        self._stamp = ""
        self.failed = 0  # decisions whose line could not be built
        self.too_large = 0  # events dropped because even cut they exceeded max_event_bytes
        self.dropped_by_policy = 0  # events a system/log/drop decision dropped

    # --- admission decisions -------------------------------------------------------------------
    def record(self, seen: Admission) -> None:
        """Queue an admission decision's event. Only the request's own fault, found while
        reading it (a deferred oldObject that is not JSON), is raised; any other failure is
        counted."""
        if not self.enabled:
            return
        try:  # the line is built inline: a call of its own would cost ~1k instructions
            request, decision = seen.request, seen.decision
            user = request.user
            kind = self._kinds.get(request.kind)
            if kind is None:
                kind = "/".join(p for p in request.kind if p)
                if len(self._kinds) < _KIND_LIMIT:
                    self._kinds[request.kind] = kind
            head = {
                "decision_id": new_decision_id(),
                "path": _PATHS.get(seen.endpoint, seen.endpoint.strip("/")),
                "timestamp": self._timestamp(),
                "requested_by": seen.requested_by,
                "uid": request.uid,
                "endpoint": seen.endpoint,
                "operation": request.operation,
                "kind": kind,
                "namespace": request.namespace,
                "name": request.name,
                "user": user.username,
                "groups": user.groups,
                "dry_run": request.dry_run,
                "allowed": decision.allowed,
                "patch": len(decision.patch),
                "bundle": seen.bundle[:12],
            }
            parts = []
            prefixes = self._prefixes
            for r in decision.results:
                if r.violations or r.error:
                    parts.append(self._entry(r))
                else:  # a passing or skipped rule: its cached constant part and its time
                    prefix = prefixes.get(r[:4]) or self._prefix(r)
                    parts.append(b"%s%d}" % (prefix, r.duration_ns // 1000))
            metrics = b'{"timer_rego_query_eval_ns":%d,"timer_server_handler_ns":%d}' % (
                decision.duration_ns,
                int(seen.seconds * 1e9),
            )
            policy_set = seen.policy_set
            secret = request.kind[2] == "Secret" and not request.kind[0]
            review = b""
            if self.settings.include_input:
                body = seen.body.rstrip()  # kube-apiserver ends its body with a newline
                if secret or not body.isascii() or b"\n" in body or b"\r" in body:
                    review = self._review(seen, secret)  # decoded, redacted, on one line
                else:  # one line of valid JSON (ASCII: a deferred oldObject's UTF-8 needs no
                    # check) whose only secret is the last-applied annotation, cut where it is
                    applied = body.find(_LAST_APPLIED_KEY)
                    review = _cut_last_applied(body, applied) if applied >= 0 else body
            answer = seen.answer or b"null"
            if b'"patch"' in answer and (secret or _LAST_APPLIED in seen.body):
                answer = _redacted_answer(answer, secret)
            bundles = self._bundles_of(policy_set.bundles if policy_set is not None else _NONE)
            line = b"".join((
                orjson.dumps(head)[:-1], b',"labels":', self._labels, b',"bundles":', bundles,
                b',"input":' if review else b"", review, b',"result":', answer,
                b',"metrics":', metrics, b',"results":[', b",".join(parts), b"]}\n",
            ))  # fmt: skip
            if (
                self.settings.mask
                or _has_log_policy(policy_set)
                or len(line) > self.settings.max_event_bytes
            ):
                finished = self._finished(line, policy_set)
                if finished is None:
                    return
                line = finished
        except InvalidRequest:  # the request's own fault, found reading it (a malformed oldObject)
            raise
        except Exception:
            self._failure(seen.request.uid)
            return
        self._append(line)

    def _review(self, seen: Admission, secret: bool) -> bytes:
        """The AdmissionReview as received, re-encoded: compact, on one line, with a Secret's
        data and the last-applied annotation redacted."""
        try:
            review = orjson.loads(seen.body)
        except orjson.JSONDecodeError:
            seen.request.raw_old_object  # noqa: B018  # a malformed deferred oldObject: its 400
            raise
        request = review.get("request") if isinstance(review, dict) else None
        if isinstance(request, dict):
            secret = secret or any(is_secret(request.get(s)) for s in ("object", "oldObject"))
            for side in ("object", "oldObject"):
                if side in request:
                    request[side] = redact_object(request[side], secret=secret)
        return orjson.dumps(review)

    def _entry(self, r: RuleResult) -> bytes:
        """The whole entry of a rule with messages or an error (and the policy exception that
        excepted its violations, if one did)."""
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

    # --- data API decisions --------------------------------------------------------------------
    def record_data(self, seen: DataDecision) -> None:
        """Queue a data API decision's event; a failure to build it is counted."""
        if not self.enabled:
            return
        try:
            event: dict[str, Any] = {
                "decision_id": seen.decision_id or new_decision_id(),
                "path": seen.path,
                "timestamp": self._timestamp(),
                "requested_by": seen.requested_by,
                "labels": self.settings.labels,
                "bundles": {name: {"revision": rev} for name, rev in seen.bundles.items()},
            }
            if self.settings.include_input and seen.input is not UNDEFINED:
                event["input"] = seen.input
            if seen.defined:
                event["result"] = seen.result
            if seen.error is not None:
                event["error"] = seen.error
            event["metrics"] = seen.metrics
            event["bundle"] = seen.policy_set.digest[:12]
            event["results"] = [
                {"policy": e.policy, "rule": e.rule, "path": e.path,
                 "result": "error" if e.error else "pass", "error": e.error,
                 "us": e.duration_ns // 1000}
                for e in seen.evaluated
            ]  # fmt: skip
            finished = self._finished(
                orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE), seen.policy_set
            )
            if finished is None:
                return
            line = finished
        except Exception:
            self._failure(seen.decision_id)
            return
        self._append(line)

    # --- masking, cutting ----------------------------------------------------------------------
    def _finished(self, line: bytes, policy_set: PolicySet | None) -> bytes | None:
        """The event as logged: dropped by `system/log/drop` (None), masked, then cut to
        `max_event_bytes` (None when even cut it is too large)."""
        if self.settings.mask or _has_log_policy(policy_set):
            masked = self._masked(line, policy_set)
            if masked is None:
                return None
            line = masked
        if len(line) > self.settings.max_event_bytes:
            return self._cut(line)
        return line

    def _masked(self, line: bytes, policy_set: PolicySet | None) -> bytes | None:
        """The event after `system/log/drop` (None: dropped) and the masks: the configured
        pointers, then what `system/log/mask` returns for the event."""
        event = orjson.loads(line)
        decisions = policy_set.decisions if policy_set is not None else {}
        if (
            policy_set is not None
            and DROP_DECISION in decisions
            and read(policy_set, _DROP, event).value is True
        ):
            self.dropped_by_policy += 1
            return None
        masks: list[Any] = list(self.settings.mask)
        if policy_set is not None and MASK_DECISION in decisions:
            found = read(policy_set, _MASK, event).value
            masks += list(found) if isinstance(found, (list, tuple, set, frozenset)) else []
        if masks:
            apply_masks(event, masks)
        return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)

    def _cut(self, line: bytes) -> bytes | None:
        """An event within `max_event_bytes`: without its input, then its result too (each
        named in `erased`); None, counted, when even that is too large."""
        event = orjson.loads(line)
        for part in ("input", "result"):
            if part in event:
                del event[part]
                event["erased"] = sorted({*event.get("erased", ()), f"/{part}"})
                line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
                if len(line) <= self.settings.max_event_bytes:
                    return line
        self.too_large += 1
        if self.too_large == 1 or self.too_large % 1000 == 0:
            log.warning(
                "decision log: event %s dropped: larger than %d bytes even without its input "
                "and result (%d so far)",
                event.get("decision_id"),
                self.settings.max_event_bytes,
                self.too_large,
            )
        return None

    # --- parts ---------------------------------------------------------------------------------
    def _timestamp(self) -> str:
        """Now in RFC 3339, UTC, with nanoseconds (the date part built once a second)."""
        seconds, fraction = divmod(time.time_ns(), 1_000_000_000)
        if seconds != self._second:
            self._second = seconds
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
        return f"{self._stamp}{fraction:09d}Z"

    def _bundles_of(self, bundles: Mapping[str, str]) -> bytes:
        """OPA's `bundles` ({name: {"revision": ...}}), encoded once per policy version."""
        known, encoded = self._bundles
        if bundles is not known:
            encoded = orjson.dumps({name: {"revision": rev} for name, rev in bundles.items()})
            self._bundles = (bundles, encoded)
        return encoded

    def counts(self) -> dict[str, int]:
        """Events not logged, by why, for the metrics."""
        return {
            "failed": self.failed,
            "too_large": self.too_large,
            "dropped_by_policy": self.dropped_by_policy,
        }

    def _failure(self, what: str) -> None:
        self.failed += 1
        if self.failed == 1 or self.failed % 1000 == 0:
            log.exception("decision log: no line for %r (%d so far)", what, self.failed)

    # --- writing -------------------------------------------------------------------------------
    def _append(self, line: bytes) -> None:
        if self.ship is not None:
            self.ship(line)
        if self._fd is None:
            return
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._buffer or self._fd is None:
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
        if self._owned and self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _has_log_policy(policy_set: PolicySet | None) -> bool:
    if policy_set is None:
        return False
    decisions = policy_set.decisions
    return MASK_DECISION in decisions or DROP_DECISION in decisions


def _redacted_answer(answer: bytes, secret: bool) -> bytes:
    """The AdmissionReview answered, with what its patch writes into a Secret's data or the
    last-applied annotation redacted."""
    review = orjson.loads(answer)
    response = review.get("response") or {}
    patch = response.get("patch")
    if isinstance(patch, str):
        operations = orjson.loads(base64.b64decode(patch))
        redacted = redact_patch(operations, secret=secret)
        response["patch"] = base64.b64encode(orjson.dumps(redacted)).decode()
    return orjson.dumps(review)
