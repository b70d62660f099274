"""The ASGI application: routing and the request pipeline (size limit -> decode -> evaluate ->
encode -> metrics and decision log). Handlers never raise to the server: every failure becomes a
JSON answer, and a rule's failure is a decision, never a 500.

    POST /validate, /mutate          AdmissionReview v1 / v1beta1
    GET|POST /v1/data/{path}         OPA's decision API (`data_api`), also POST /v0/data/{path}
    POST /                           and POST / (the default decision)
    GET /healthz, /readyz, /metrics  admit's probes; GET /health[?bundles|plugins], OPA's
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar

import orjson

from admit.core.cluster import EMPTY_CLUSTER
from admit.core.decision import Decision
from admit.core.engine import PolicySet, evaluate, timed_out
from admit.core.errors import AdmitError, RuleTimeout
from admit.core.exceptions import PolicyException
from admit.core.review import Request
from admit.core.shape import InvalidRequest
from admit.server import admission
from admit.server.data_api import PREFIXES, DataAPI, requested_by
from admit.server.deadline import Deadline
from admit.server.errors import HTTPError
from admit.server.health import Plugins, health
from admit.server.metrics import CONTENT_TYPE, Metrics, exposition
from admit.server.observers import Admission, Observer
from admit.server.policies import ClusterSource, PolicySource
from admit.server.state import Slots, WorkerSlot, agreement, read_report

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("admit.server")
NO_VERSION = (
    "admit has no policy version loaded (the bundle failed to load, or its ConfigMaps are "
    "broken or not read yet: see the webhook's /readyz), so it denies until one loads"
)
JSON = [(b"content-type", b"application/json")]
T = TypeVar("T")
_PHASES = {"/validate": "validate", "/mutate": "mutate"}


class ClientGone(Exception):
    """The client disconnected before sending its whole request."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes: at once when Content-Length says so
    (the body is not awaited), else as it arrives (a slow client is cut off by the protocol's
    request deadline)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise HTTPError("invalid Content-Length", code="bad_request") from None
            if declared > limit:
                raise HTTPError(
                    f"the body ({declared} bytes) exceeds the {limit}-byte limit",
                    status=413,
                    code="body_too_large",
                )
            break
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body"):
        body: bytes = message.get("body", b"")
        if len(body) <= limit:
            return body  # the common case: the whole body came in one piece
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(
                f"the body exceeds the {limit}-byte limit", status=413, code="body_too_large"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


class AdmitApp:
    """The webhook server's application; one per worker process."""

    def __init__(
        self,
        policies: PolicySource,
        *,
        max_body: int = 4 * 1024 * 1024,
        rule_timeout: float = 2.0,
        metrics: Metrics | None = None,
        observers: Sequence[Observer] = (),
        cluster: ClusterSource | None = None,
        slots: Slots | None = None,
        running: WorkerSlot | None = None,
        run_dir: Path | None = None,
        data_api: DataAPI | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        self.policies = policies
        self.data_api = data_api or DataAPI(max_body=max_body)
        self.plugins = plugins  # what OPA's /health?plugins checks besides the bundle
        self.slots = slots
        self.running = running
        self.run_dir = run_dir
        self.observers = tuple(observers)
        self.cluster = cluster
        self._cluster_view = cluster.cluster if cluster is not None else EMPTY_CLUSTER
        self.max_body = max_body
        self.deadline = Deadline(rule_timeout) if rule_timeout > 0 else None
        self.metrics = metrics

    def install_deadline(self) -> None:
        """Take SIGALRM for rule timeouts (call from the main thread of the worker)."""
        if self.deadline is not None:
            self.deadline.install()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = perf_counter()
        path: str = scope["path"]
        endpoint = path if path in _PHASES else _endpoint(path)
        content_type = JSON
        try:
            status, payload, result = await self._route(scope, receive, path)
            if endpoint == "/metrics":
                content_type = [(b"content-type", CONTENT_TYPE.encode())]
        except ClientGone:
            return
        except AdmitError as exc:  # HTTPError, and any other error that knows its status
            status, result = exc.http_status, exc.code
            payload = orjson.dumps({"code": exc.code, "message": str(exc)})
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], path)
            status, result = 500, "internal_error"
            payload = b'{"code":"internal_error","message":"internal server error"}'
        headers = [*content_type, (b"content-length", str(len(payload)).encode())]
        if status in (408, 413):  # the rest of the body is unread: the connection is done
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        if self.metrics is not None and endpoint in _KNOWN_ENDPOINTS:
            self.metrics.request(endpoint, result, perf_counter() - started)

    async def _route(self, scope: Scope, receive: Receive, path: str) -> tuple[int, bytes, str]:
        method = scope["method"]
        phase = _PHASES.get(path)
        if phase is not None:
            _allow(method, "POST")
            body = await read_body(scope, receive, self.max_body)
            return self.admit(body, path, phase, requested_by(scope))
        if path.startswith(PREFIXES) or path == "/":
            if path.startswith("/v1/data"):
                _allow(method, "GET", "POST")
            else:  # /v0/data and / take the input as the body, as OPA's webhook APIs do
                _allow(method, "POST")
            body = b""
            if method == "POST":
                body = await read_body(scope, receive, self.max_body)
            return self.data_api.answer(self.policies.current(), scope, body, self.guard)
        if path == "/health" or path.startswith("/health/"):
            _allow(method, "GET")
            query = scope.get("query_string", b"").decode("latin-1")
            return health(path, query, self.policies.current(), self.plugins)
        if path == "/healthz":
            return 200, b'{"status":"ok"}', "ok"
        if path == "/readyz":
            return self.readiness()
        if path == "/metrics":
            _allow(method, "GET")
            live = self.metrics
            return 200, exposition(live.directory if live else None, live), "ok"
        raise HTTPError(f"no such endpoint: {path}", status=404, code="not_found")

    def admit(
        self, body: bytes, endpoint: str, phase: str, requested_by: str = ""
    ) -> tuple[int, bytes, str]:
        """Answer one AdmissionReview body: decode -> evaluate -> encode; then the observers."""
        started = perf_counter()
        api_version, raw = admission.decode_review(body)
        policy_set = self.policies.current()
        if policy_set is None:
            return 200, admission.refuse(api_version, raw["uid"], NO_VERSION), "denied"
        request = Request(raw, cluster=self._cluster_view)
        try:
            decision = self.judge(policy_set, request, phase)
        except RecursionError:  # a mutation's copy or patch of an object nested too deep
            raise admission.too_deep("request.object") from None
        payload = admission.answer(api_version, raw["uid"], decision, mutating=phase == "mutate")
        seen = Admission(request, decision, body, endpoint, perf_counter() - started,
                         policy_set.digest, answer=payload, requested_by=requested_by,
                         policy_set=policy_set)  # fmt: skip
        for observe in self.observers:  # none can fail the request (see `observers`)
            try:
                observe(seen)
            except InvalidRequest:
                raise  # a fault of the request itself, found only by the observer (a 400)
            except Exception:
                log.exception("an observer of decisions failed (%r); the answer stands", observe)
        return 200, payload, "allowed" if decision.allowed else "denied"

    def judge(self, policy_set: PolicySet, request: Request, phase: Any) -> Decision:
        """`evaluate` within the rule timeout; a timeout outside any rule still decides."""
        deadline = self.deadline
        try:
            if deadline is None:
                return evaluate(policy_set, request, phase=phase)
            # inline rather than `deadline.run(lambda: ...)`: the closure and its frames cost
            # ~5k instructions a request (bench_instructions.py)
            deadline.arm()
            try:
                return evaluate(policy_set, request, phase=phase)
            finally:
                deadline.disarm()
        except RuleTimeout:
            assert deadline is not None
            return timed_out(policy_set, request, deadline.seconds)
        finally:
            if self.running is not None:
                self.running.done()

    def guard(self, work: Callable[[], T]) -> T:
        """`work()` (decisions) within the rule timeout (`RuleTimeout` when it ran out)."""
        deadline = self.deadline
        try:
            if deadline is None:
                return work()
            return deadline.run(work)
        except RuleTimeout:
            assert deadline is not None
            message = f"the decision exceeded the {deadline.seconds:g}s rule timeout"
            raise RuleTimeout(message) from None
        finally:
            if self.running is not None:  # no rule runs now: a later death is not its fault
                self.running.done()

    def readiness(self) -> tuple[int, bytes, str]:
        """Ready when a good policy version is served by every worker and the cluster cache is
        synced; the body says what is served, what failed to load, and how the workers fare."""
        policy_set = self.policies.current()
        status = self.policies.status()
        body: dict[str, Any] = {"ready": True}
        reasons = []
        if policy_set is None:
            reasons.append(
                "no policy version has loaded yet (see reload.last_error): admission requests "
                "are denied until one does"
            )
        else:
            body["bundle"] = {
                "digest": policy_set.digest,
                "source": policy_set.source,
                "rules": len(policy_set.rules),
                "restored": bool((status.get("served") or {}).get("restored")),
                "revision": (status.get("served") or {}).get("revision", ""),
                "bundles": {name: {"revision": r} for name, r in policy_set.bundles.items()},
            }
            if policy_set.exceptions:  # those about to lapse, and those that did
                body["exceptions"] = exceptions_due(policy_set.exceptions)
        published = read_report(self.run_dir, "current")
        if self.slots is not None:
            body["workers"] = self.slots.describe()
            disagreement = agreement(self.slots, published)
            if disagreement:
                reasons.append(disagreement)
        body["reload"] = {k: v for k, v in status.items() if k != "served"}
        supervisor = read_report(self.run_dir, "supervisor")
        if supervisor is not None:
            body["supervisor"] = supervisor
        audit = read_report(self.run_dir, "audit")  # serve --audit-interval: this replica's
        if audit is not None:
            keys = ("lease", "synced", "objects", "summary", "written", "last_error")
            body["audit"] = {k: audit.get(k) for k in keys}
        if self.cluster is not None:
            body["cache"] = self.cluster.status()
            if not self.cluster.synced:
                reasons.append("cluster cache not synced yet")
        if reasons:
            body["ready"] = False
            body["reason"] = "; ".join(reasons)
            return 503, orjson.dumps(body), "not_ready"
        return 200, orjson.dumps(body), "ok"


def exceptions_due(exceptions: tuple[PolicyException, ...]) -> dict[str, Any]:
    """The policy exceptions expiring within 7 days, and those expired (no longer applying)."""
    now = time.time()
    return {
        "expiring_within_7_days": [e.as_json(now) for e in exceptions if e.expiring(now)],
        "expired": [e.as_json(now) for e in exceptions if e.expired(now)],
    }


_KNOWN_ENDPOINTS = frozenset(
    {"/validate", "/mutate", "/v1/data", "/v0/data", "/", "/health", "/readyz", "/healthz"}
)


def _endpoint(path: str) -> str:
    """The metrics label of a path: the data APIs' paths and the health checks grouped."""
    for prefix in (*PREFIXES, "/health"):
        if path.startswith(prefix):
            return prefix
    return path



def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise HTTPError(
            f"method {method} is not allowed here; use {' or '.join(allowed)}",
            status=405,
            code="method_not_allowed",
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
