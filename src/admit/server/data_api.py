"""The OPA-compatible Data API for `@admit.decision` rules, so OPA clients can switch:

POST /v1/data/httpapi/authz/allow  {"input": {...}}   -> 200 {"result": true}
GET  /v1/data/httpapi/authz?input={"method":"GET"}    -> 200 {"result": {"allow": true}}
an undefined path                                      -> 200 {}
errors                                                 -> {"code": ..., "message": ...}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from admit.core.engine import EvaluationError, PolicySet, query
from admit.server.errors import HTTPError

PREFIX = "/v1/data"
_UNDEFINED = object()


def _input_of(method: str, body: bytes, query_string: bytes) -> Any:
    if method == "POST":
        if not body.strip():
            return _UNDEFINED
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(
                f"body contains malformed input document: {exc}", code="invalid_parameter"
            ) from None
        if not isinstance(document, dict):
            raise HTTPError('body must be an object like {"input": ...}', code="invalid_parameter")
        return document.get("input", _UNDEFINED)
    raw = parse_qs(query_string.decode("latin-1")).get("input")
    if not raw:
        return _UNDEFINED
    try:
        return orjson.loads(raw[-1])
    except orjson.JSONDecodeError as exc:
        raise HTTPError(
            f"parameter 'input' is not valid JSON: {exc}", code="invalid_parameter"
        ) from None


def answer(
    policy_set: PolicySet | None, path: str, method: str, body: bytes, query_string: bytes
) -> tuple[int, bytes, str]:
    """(status, JSON body, result label) for a Data API request."""
    if policy_set is None:
        raise HTTPError("no policy bundle is loaded yet", status=503, code="not_ready")
    decision_path = path[len(PREFIX) :].strip("/")
    given = _input_of(method, body, query_string)
    try:
        defined, value = query(policy_set, decision_path, None if given is _UNDEFINED else given)
    except EvaluationError as exc:
        return 500, orjson.dumps({"code": "internal_error", "message": str(exc)}), "error"
    if not defined:
        return 200, b"{}", "undefined"
    try:
        return 200, orjson.dumps({"result": value}), "defined"
    except TypeError as exc:
        message = f"decision {decision_path} returned a value that is not JSON: {exc}"
        return 500, orjson.dumps({"code": "internal_error", "message": message}), "error"
