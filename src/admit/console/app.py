"""The console's ASGI application: the page and its assets, a JSON API, and the live decision
stream (server-sent events). Read-only: the one POST, the playground, evaluates and forgets.
Requests naming another host are refused (DNS rebinding: see `admit.console.hosts`); with a
token (`admit.console.access`), requests without it get the login page or 401.

    GET  /                          the single-page UI (static/index.html)
    POST /login                     with a token gate: the token, form-encoded -> a session
    GET  /static/{name}             its CSS and JS, shipped in the package
    GET  /api/policies              modules, rules, matches, parameters, per-rule counters
    GET  /api/source?file=…         a rule module's highlighted source
    GET  /api/status                bundle digest, reload history and last error, workers
    GET  /api/rollout               the served revision, policy exceptions, audit reports
    GET  /api/decisions[/{id}]      the most recent decisions (summaries), or one in full
    GET  /api/stream                new decisions as server-sent events
    GET  /api/decisions/{id}/case   that decision as a `*_test.yaml` test case
    GET  /api/metrics               rate, deny ratio, latency quantiles, per policy and rule
    POST /api/playground            evaluate pasted YAML/JSON: {"text", "operation", …}, and
                                    with "policy": {"file", "source"} an edited copy of the
                                    served set, in a confined process (`admit.console.trial`)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson

from admit.console import catalog, rollout, trial
from admit.console.access import COOKIE, TokenGate
from admit.console.compare import changes
from admit.console.decisions import DecisionFeed, FeedBusy
from admit.console.hosts import DEFAULT_NAMES, host_allowed
from admit.console.playground import (
    Judge,
    PlaygroundError,
    judge_requests,
    kinds_of,
    requests_of_text,
)
from admit.console.stats import MetricsHistory
from admit.core.engine import PolicySet
from admit.core.errors import AdmitError
from admit.loading.capture import CaptureError, capture
from admit.server.policies import PolicySource

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("admit.console")
MAX_BODY = 1024 * 1024
MAX_TRIALS = 2  # edited-policy trials at once (each a process of up to trial.MEMORY)
CASE_FILE = "captured_test.yaml"
MAX_LOGIN = 4096  # bytes of a login form
LOGIN_DELAY = 1.0  # seconds before a wrong token is answered
KEEPALIVE = 15.0  # seconds between SSE comments, so proxies keep an idle stream open
_STATIC = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "login.html": "text/html; charset=utf-8",
    # the policy editor (CodeMirror 5, vendored: see static/codemirror/README.md)
    "codemirror/codemirror.js": "text/javascript; charset=utf-8",
    "codemirror/codemirror.css": "text/css; charset=utf-8",
    "codemirror/python.js": "text/javascript; charset=utf-8",
}
# Everything comes from this origin: no CDN, no inline script, nothing framed.
_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class ConsoleError(AdmitError):
    """An answer other than 200, as {"code", "message"} (the console's HTTP errors)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status, self.code = status, code


def _static(name: str) -> bytes:
    return resources.files("admit.console").joinpath("static", *name.split("/")).read_bytes()


class ConsoleApp:
    """One per console process; `policies` is the same source the workers serve from."""

    def __init__(
        self,
        policies: PolicySource,
        feed: DecisionFeed,
        history: MetricsHistory,
        judge: Judge,
        *,
        webhook_url: str = "",
        host_names: frozenset[str] = DEFAULT_NAMES,
        rule_timeout: float = 2.0,
        gate: TokenGate | None = None,
    ) -> None:
        self.policies = policies
        self.feed = feed
        self.history = history
        self.judge = judge
        self.webhook_url = webhook_url
        self.host_names = host_names
        self.rule_timeout = rule_timeout  # the workers': trials judge under it too
        self._trials = asyncio.Semaphore(MAX_TRIALS)
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        extra: list[tuple[bytes, bytes]] = []
        try:
            self._check_host(scope)
            if self.gate is not None and not self.gate.allows(scope["headers"]):
                status, content_type, body, extra = await self._guest(scope, receive)
                await _answer(send, status, content_type, body, extra)
                return
            if path == "/api/stream":
                await self._stream(receive, send)
                return
            status, content_type, body = await self._route(scope, receive, path, method)
        except AdmitError as exc:  # ConsoleError, and any other error that knows its status
            status, content_type = exc.http_status, "application/json"
            body = orjson.dumps({"code": exc.code, "message": str(exc)})
        except Exception:
            log.exception("console error answering %s %s", method, path)
            status, content_type = 500, "application/json"
            body = b'{"code":"internal_error","message":"see the server log"}'
        await _answer(send, status, content_type, body, extra)

    async def _guest(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, str, bytes, list[tuple[bytes, bytes]]]:
        """The answer to a request without the token: the page's assets (they hold nothing of
        this server), the login page and its form, or 401."""
        path, method = scope["path"], scope["method"]
        assert self.gate is not None
        if method == "GET" and path.startswith("/static/") and path.removeprefix("/static/") in (
            "console.css",
            "login.html",
        ):
            name = path.removeprefix("/static/")
            return 200, _STATIC[name], _static(name), []
        if method == "POST" and path == "/login":
            form = parse_qs((await _read(receive, MAX_LOGIN)).decode("utf-8", "replace"))
            if self.gate.matches((form.get("token") or [""])[0]):
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                cookie = f"{COOKIE}={self.gate.session()}; Path=/; HttpOnly; SameSite=Strict"
                return 303, "text/plain", b"", [
                    (b"location", b"/"),
                    (b"set-cookie", (cookie + secure).encode()),
                ]
            await asyncio.sleep(LOGIN_DELAY)  # a guess per second, at most, per connection
            return 401, _STATIC["login.html"], _login("That is not this console's token."), []
        if method == "GET" and path in ("/", "/index.html"):
            return 401, _STATIC["login.html"], _login(""), []
        body = orjson.dumps(
            {
                "code": "unauthorized",
                "message": "this console needs its token: send Authorization: Bearer TOKEN (the "
                "token of --console-token-file), or sign in on its start page",
            }
        )
        return 401, "application/json", body, [(b"www-authenticate", b'Bearer realm="admit"')]

    def _check_host(self, scope: Scope) -> None:
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        if not host_allowed(host, self.host_names):
            shown = host.decode("latin-1")[:100] if host else ""
            names = ", ".join(sorted(self.host_names))
            raise ConsoleError(
                403,
                "forbidden_host",
                f"this console does not answer to the host {shown!r}: open it by IP address or "
                f"as {names}, or allow the name with --console-allowed-host",
            )

    async def _route(
        self, scope: Scope, receive: Receive, path: str, method: str
    ) -> tuple[int, str, bytes]:
        if path == "/api/playground":
            _allow(method, "POST")
            return 200, "application/json", await self._playground(scope, receive)
        _allow(method, "GET")
        if path == "/favicon.ico":
            return 204, "image/x-icon", b""
        if path in ("/", "/index.html"):
            return 200, _STATIC["index.html"], _static("index.html")
        if path.startswith("/static/"):
            name = path.removeprefix("/static/")
            if name not in _STATIC:
                raise ConsoleError(404, "not_found", f"no such asset: {name}")
            return 200, _STATIC[name], _static(name)
        query = parse_qs(scope.get("query_string", b"").decode())
        return 200, "application/json", orjson.dumps(self.api(path, query))

    def api(self, path: str, query: dict[str, list[str]]) -> Any:
        """The JSON answer of a GET /api/… path (a `ConsoleError` if there is none)."""
        current = self.policies.current()
        if path == "/api/policies":
            return catalog.describe(current, self.history.rules())
        if path == "/api/source":
            file = (query.get("file") or [""])[0]
            source = catalog.module_source(file) if file in catalog.files_of(current) else None
            if source is None:
                missing = f"no rule module {file!r} in the loaded bundle"
                raise ConsoleError(404, "not_found", missing)
            return source
        if path == "/api/status":
            return self.status()
        if path == "/api/rollout":
            return rollout.describe(current, self.policies)
        if path == "/api/decisions":  # stored encoded: passed through as they are
            return {"decisions": [orjson.Fragment(e.summary) for e in self.feed.recent]}
        if path.startswith("/api/decisions/") and path.endswith("/case"):
            entry_id = path.removeprefix("/api/decisions/").removesuffix("/case")
            entry = self.feed.get(int(entry_id)) if entry_id.isdigit() else None
            if entry is None:
                shown = entry_id[:40]
                raise ConsoleError(404, "not_found", f"decision {shown} is no longer in the buffer")
            return {"file": CASE_FILE, "text": _case_text(entry)}
        if path.startswith("/api/decisions/"):
            entry_id = path.removeprefix("/api/decisions/")
            detail = self.feed.detail(int(entry_id)) if entry_id.isdigit() else None
            if detail is None:
                shown = entry_id[:40]
                raise ConsoleError(404, "not_found", f"decision {shown} is no longer in the buffer")
            return orjson.Fragment(detail)
        if path == "/api/metrics":
            actions = {r.key: r.action for r in current.rules} if current is not None else {}
            return self.history.report(actions)
        raise ConsoleError(404, "not_found", f"no such page: {path}")

    def status(self) -> dict[str, Any]:
        current = self.policies.current()
        bundle = None
        if current is not None:
            bundle = {
                "digest": current.digest,
                "source": current.source,
                "rules": len(current.rules),
            }
        reload = {k: v for k, v in self.policies.status().items() if k != "served"}
        return {
            "bundle": bundle,
            "watching": bool(reload.get("watching")),
            "reload": reload if "source" in reload else None,
            "workers": [{"pid": p, "bundle": b} for p, b in self.history.latest["workers"]],
            "feed": {"buffered": len(self.feed.recent), "capacity": self.feed.recent.maxlen},
            "webhook": self.webhook_url,
        }

    async def _playground(self, scope: Scope, receive: Receive) -> bytes:
        headers = dict(scope["headers"])
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            # a cross-site form cannot send JSON without a CORS preflight, which we never allow
            raise ConsoleError(415, "unsupported_media_type", "send application/json")
        body = await _read(receive)
        try:
            asked = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ConsoleError(400, "invalid_json", f"the body is not JSON: {exc}") from None
        if not isinstance(asked, dict) or not isinstance(asked.get("text"), str):
            raise ConsoleError(400, "invalid_request", 'send {"text": "<YAML or JSON>", …}')
        current = self.policies.current()
        if current is None:
            raise ConsoleError(503, "not_ready", "no policy bundle is loaded yet")
        options = {k: asked.get(k) or "" for k in ("operation", "namespace", "username")}
        groups = asked.get("groups") or []
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.split(",") if g.strip()]
        if not all(isinstance(v, str) for v in options.values()) or not (
            isinstance(groups, list) and all(isinstance(g, str) for g in groups)
        ):
            raise ConsoleError(
                400, "invalid_request", "operation, namespace, username and groups are strings"
            )
        try:
            raws = requests_of_text(
                asked["text"],
                kinds_of(current),
                operation=(options["operation"] or "CREATE").upper(),
                namespace=options["namespace"] or "default",
                username=options["username"] or "admit-console",
                groups=tuple(groups),
            )
            served = judge_requests(current, raws, self.judge)
        except PlaygroundError as exc:
            raise ConsoleError(400, "invalid_input", str(exc)) from None
        answer: dict[str, Any] = {"bundle": current.digest, "decisions": served}
        if asked.get("policy") is not None:
            answer = await self._trial(current, asked["policy"], raws, served)
        for entry in answer["decisions"]:
            entry["case"] = _case_text(entry)
        return orjson.dumps(answer)

    async def _trial(
        self,
        current: PolicySet,
        policy: Any,
        raws: list[dict[str, Any]],
        served: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The requests judged by an edited copy of the served set (in a confined process),
        beside the served set's decisions and what changed."""
        if not isinstance(policy, dict) or not isinstance(policy.get("source"), str) or not (
            policy.get("file") is None or isinstance(policy.get("file"), str)
        ):
            raise ConsoleError(400, "invalid_request", 'send "policy": {"file": …, "source": "…"}')
        try:
            snapshot = trial.snapshot_of(current)
            served_files = set(catalog.files_of(current))
            edit = trial.edit_of(snapshot, policy.get("file"), policy["source"], served_files)
        except trial.TrialError as exc:
            raise ConsoleError(400, "invalid_edit", str(exc)) from None
        if self._trials.locked():
            raise ConsoleError(429, "trials_busy", f"{MAX_TRIALS} trials are running; try again")
        async with self._trials:
            result = await asyncio.to_thread(
                trial.run_trial,
                snapshot,
                edit,
                raws,
                rule_timeout=self.rule_timeout,
                message_format=current.message_format,
            )
        return {
            "bundle": current.digest,
            "decisions": result.decisions,
            "served": served,
            "changes": changes(served, result.decisions) if result.decisions else [],
            "trial": {
                "file": edit.path,
                "problems": result.problems,
                "stopped": result.stopped,
                "confinement": result.confinement,
                "seconds": round(result.seconds, 3),
            },
        }

    async def _stream(self, receive: Receive, send: Send) -> None:
        """Server-sent events until the browser goes away: `decision` events with summaries."""
        try:
            watcher = self.feed.watch()
        except FeedBusy as exc:
            raise ConsoleError(503, "too_many_streams", f"{exc}; close a console tab") from None
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-store"),
            *_SECURITY,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b": stream\n\n", "more_body": True})
        gone = asyncio.ensure_future(_disconnected(receive))
        arrived: asyncio.Future[None] | None = None
        try:
            while not gone.done():
                arrived = asyncio.ensure_future(watcher.wait())
                done, _ = await asyncio.wait(
                    {arrived, gone}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                )
                if arrived not in done:
                    arrived.cancel()  # waiting is safe to cancel: the entries stay in the ring
                    if not gone.done():
                        await send(
                            {"type": "http.response.body", "body": b": -\n\n", "more_body": True}
                        )
                    continue
                events = b"".join(
                    b"id: %d\nevent: decision\ndata: %s\n\n" % (entry.id, entry.summary)
                    for entry in watcher.take()
                )
                if events:
                    await send({"type": "http.response.body", "body": events, "more_body": True})
        finally:
            gone.cancel()
            if arrived is not None:
                arrived.cancel()
            self.feed.unwatch(watcher)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b""})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer(
    send: Send, status: int, content_type: str, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *_SECURITY,
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _login(error: str) -> bytes:
    """The login page, with `error` (a fixed text of ours, never the request's) shown."""
    return _static("login.html").replace(b"{error}", error.encode())


async def _read(receive: Receive, limit: int = MAX_BODY) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConsoleError(400, "client_gone", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ConsoleError(413, "body_too_large", f"at most {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _case_text(entry: dict[str, Any]) -> str | None:
    """The decision as a test case, or None when it cannot be one (no object to replay)."""
    try:
        return capture([entry])
    except CaptureError:
        return None


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ConsoleError(
            405, "method_not_allowed", f"use {' or '.join(allowed)} (the console is read-only)"
        )
