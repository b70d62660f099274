"""OPA's decision API over the data document (`admit.core.document`), so OPA clients switch
without a change. What OPA's REST API reference specifies, admit answers the same way:

    POST /v1/data/{path}  {"input": ...}   200 {"result": ...}; undefined: 200 {}
                          no `input` key   input undefined, plus OPA's api_usage_warning
    GET  /v1/data/{path}[?input=JSON]      the same without a body
    POST /v0/data/{path}  <the input>      200 <the value itself>; undefined: 404
    POST /                <the input>      the default decision (`system/main`), as /v0
    ?pretty ?metrics ?provenance           indented JSON, OPA's timer names, the bundles
    errors                                 {"code", "message"[, "errors"]} with OPA's codes

`decision_id` is in every answer when decisions are logged, and names its decision-log line.
Each decision is handed to the data observers (the decision log) as a `DataDecision`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter_ns
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from admit.core.document import UNDEFINED, Answer, read
from admit.core.engine import EvaluationError, PolicySet
from admit.core.errors import RuleTimeout
from admit.server.errors import HTTPError
from admit.server.observers import DataDecision, DataObserver, notify_data

API_USAGE_WARNING = {"code": "api_usage_warning", "message": "'input' key missing from the request"}
EVALUATION_FAILED = "error(s) occurred while evaluating query"
PREFIXES = ("/v1/data", "/v0/data")


def segments_of(raw_path: bytes, prefix: str) -> tuple[str, ...]:
    """The document path after `prefix`, each segment percent-decoded on its own (OPA: an
    escaped `a%2Fb` is one key, `a/b`)."""
    rest = raw_path[len(prefix) :].decode("latin-1").strip("/")
    try:
        return tuple(unquote(part, errors="strict") for part in rest.split("/")) if rest else ()
    except UnicodeDecodeError:
        raise HTTPError(
            f"the path {rest!r} is not percent-encoded UTF-8", code="invalid_parameter"
        ) from None


def _flag(params: dict[str, list[str]], name: str) -> bool:
    """OPA's boolean query parameters: present without a value, or `true`."""
    values = params.get(name)
    return bool(values) and values[-1].lower() in ("", "true")  # type: ignore[index]


class DataAPI:
    """Answers the decision endpoints for one worker; `answer` runs inside the rule deadline."""

    def __init__(
        self,
        *,
        default_decision: str = "system/main",
        decision_ids: Callable[[], str] | None = None,
        observers: Sequence[DataObserver] = (),
        version: str = "",
        max_body: int = 4 * 1024 * 1024,
    ) -> None:
        self.default_decision = tuple(p for p in default_decision.strip("/").split("/") if p)
        self.decision_ids = decision_ids  # None: decisions are not logged, answers carry no id
        self.observers = tuple(observers)
        self.version = version
        self.max_body = max_body

    def answer(
        self,
        policy_set: PolicySet | None,
        scope: Mapping[str, Any],
        body: bytes,
        run: Callable[[Callable[[], Answer]], Answer],
    ) -> tuple[int, bytes, str]:
        """(status, JSON body, result label) for one request; `run` applies the deadline."""
        started = perf_counter_ns()
        method, path = scope["method"], scope["path"]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if path.startswith("/v1/data"):
            style, segments = "v1", segments_of(raw_path, "/v1/data")
        elif path.startswith("/v0/data"):
            style, segments = "v0", segments_of(raw_path, "/v0/data")
        else:
            style, segments = "root", self.default_decision
        if policy_set is None:
            raise HTTPError("no policy bundle is loaded yet", status=503, code="not_ready")
        parsed = perf_counter_ns()
        given, warning = self._input(style, method, body, params, scope)
        metrics = {"timer_rego_input_parse_ns": perf_counter_ns() - parsed}
        decision = DataDecision(
            decision_id=self.decision_ids() if self.decision_ids is not None else "",
            path="/".join(segments),
            input=given,
            requested_by=requested_by(scope),
            bundles=policy_set.bundles,
            policy_set=policy_set,
        )
        evaluating = perf_counter_ns()
        status, document = self._evaluate(policy_set, segments, given, run, decision, style)
        metrics["timer_rego_query_eval_ns"] = perf_counter_ns() - evaluating
        if status == 200 and style == "v1":
            if decision.decision_id:
                document["decision_id"] = decision.decision_id
            if warning:
                document["warning"] = API_USAGE_WARNING
            if _flag(params, "provenance"):
                document["provenance"] = self.provenance(policy_set)
        metrics["timer_server_handler_ns"] = perf_counter_ns() - started
        if _flag(params, "metrics") and style == "v1":
            document["metrics"] = metrics
        options = orjson.OPT_INDENT_2 if _flag(params, "pretty") else 0
        value = document.get("result") if style != "v1" and status == 200 else document
        try:
            payload = orjson.dumps(value, option=options)
        except TypeError as exc:
            message = f"decision {decision.path} returned a value that is not JSON: {exc}"
            error = {"code": "evaluation_error", "message": message}
            status, document = self._failed(decision, error)
            decision.defined, decision.result = False, None
            payload = orjson.dumps(document)
        decision.metrics = metrics
        notify_data(self.observers, decision)
        label = "defined" if decision.defined else "undefined" if status < 500 else "error"
        return status, payload, label

    def provenance(self, policy_set: PolicySet) -> dict[str, Any]:
        """What OPA's `?provenance` reports that admit knows: its version and the bundles."""
        found: dict[str, Any] = {"version": self.version}
        found["bundles"] = {name: {"revision": rev} for name, rev in policy_set.bundles.items()}
        return found

    def _input(
        self,
        style: str,
        method: str,
        body: bytes,
        params: dict[str, list[str]],
        scope: Mapping[str, Any],
    ) -> tuple[Any, bool]:
        """(the input, whether OPA's warning applies: a v1 POST without an `input` key)."""
        if method == "GET":
            raw = params.get("input")
            if raw is None:
                return UNDEFINED, False
            try:
                return orjson.loads(raw[-1]), False
            except orjson.JSONDecodeError as exc:
                raise HTTPError(
                    f"parameter contains malformed input document: {exc}",
                    code="invalid_parameter",
                ) from None
        body = self._decompressed(body, scope)
        if not body.strip():
            return UNDEFINED, style == "v1"
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            hint = ""
            if b"yaml" in _header(scope, b"content-type"):
                hint = " (admit reads JSON only: send Content-Type: application/json)"
            raise HTTPError(
                f"body contains malformed input document: {exc}{hint}", code="invalid_parameter"
            ) from None
        if style != "v1":
            return document, False
        if not isinstance(document, dict):
            raise HTTPError(
                'body contains malformed input document: it must be an object like {"input": '
                f"...}}, not {type(document).__name__}",
                code="invalid_parameter",
            )
        if "input" not in document:
            return UNDEFINED, True
        return document["input"], False

    def _decompressed(self, body: bytes, scope: Mapping[str, Any]) -> bytes:
        """The body, gunzipped when the client says `Content-Encoding: gzip` (bounded)."""
        if b"gzip" not in _header(scope, b"content-encoding"):
            return body
        inflate = zlib.decompressobj(wbits=31)
        try:
            plain = inflate.decompress(body, self.max_body + 1)
        except zlib.error as exc:
            message = f"the gzip body cannot be read: {exc}"
            raise HTTPError(message, code="invalid_parameter") from None
        if len(plain) > self.max_body:
            raise HTTPError(
                f"the body exceeds the {self.max_body}-byte limit once decompressed",
                status=413,
                code="body_too_large",
            )
        return plain

    def _evaluate(
        self,
        policy_set: PolicySet,
        segments: tuple[str, ...],
        given: Any,
        run: Callable[[Callable[[], Answer]], Answer],
        decision: DataDecision,
        style: str,
    ) -> tuple[int, dict[str, Any]]:
        """(status, the answer's document) with the outcome recorded on `decision`."""
        try:
            found = run(lambda: read(policy_set, segments, given))
        except EvaluationError as exc:
            location = _location(exc.location)
            error: dict[str, Any] = {"code": exc.code, "message": str(exc)}
            if location:
                error["location"] = location
            decision.evaluated = exc.evaluated
            return self._failed(decision, error, exc.__cause__)
        except RuleTimeout as exc:
            return self._failed(decision, {"code": "eval_cancel_error", "message": str(exc)})
        decision.defined, decision.result = found.defined, found.value
        decision.evaluated = found.evaluated
        if found.defined:
            return 200, {"result": found.value}
        if style == "v1":
            return 200, {}
        where = "data." + ".".join(segments) if segments else "data"
        what = "document missing" if style == "root" else "document missing or undefined"
        decision.error = {"code": "undefined_document", "message": f"{what}: {where}"}
        return 404, decision.error

    @staticmethod
    def _failed(
        decision: DataDecision, error: dict[str, Any], cause: BaseException | None = None
    ) -> tuple[int, dict[str, Any]]:
        answer = {"code": "internal_error", "message": EVALUATION_FAILED, "errors": [error]}
        decision.error = answer
        decision.cause = cause
        return 500, answer


def _header(scope: Mapping[str, Any], name: bytes) -> bytes:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).lower()
    return b""


def requested_by(scope: Mapping[str, Any]) -> str:
    """OPA's `requested_by`: the client's address and port."""
    client = scope.get("client")
    if not client:
        return ""
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _location(location: str | None) -> dict[str, Any] | None:
    """OPA's error location from `file:line` (the file named as in its bundle directory)."""
    if not location:
        return None
    file, _, line = location.rpartition(":")
    return {"file": file.rsplit("/", 1)[-1], "row": int(line) if line.isdigit() else 0}
