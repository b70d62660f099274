"""The AdmissionReview codec, `admission.k8s.io/v1` and `v1beta1`, to the letter of what
kube-apiserver sends and accepts: the answer echoes the request's apiVersion and uid, carries
`allowed`, a 403 `status` on denial, `warnings`, a base64 `JSONPatch` and `auditAnnotations`."""

from __future__ import annotations

import base64
import re
from functools import partial
from typing import Any, Literal, TypedDict

import msgspec
import orjson

from admit.core.decision import Decision
from admit.core.match import OPERATIONS
from admit.core.review import Deferred
from admit.core.shape import MAX_NAME, request_problem, show
from admit.server.errors import HTTPError

VERSIONS = frozenset({"admission.k8s.io/v1", "admission.k8s.io/v1beta1"})
_ANNOTATION_KEY = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_WARNING = 512  # kube-apiserver truncates longer warnings; keep them readable


class StatusV1(TypedDict, total=False):
    code: int
    message: str
    reason: str


class AdmissionResponseV1(TypedDict, total=False):
    uid: str
    allowed: bool
    status: StatusV1
    warnings: list[str]
    patchType: Literal["JSONPatch"]
    patch: str
    auditAnnotations: dict[str, str]


class AdmissionReviewV1(TypedDict):
    apiVersion: str
    kind: Literal["AdmissionReview"]
    response: AdmissionResponseV1


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """Every field of an AdmissionRequest (v1 and v1beta1), `oldObject` left undecoded."""

    uid: Any = msgspec.UNSET
    kind: Any = msgspec.UNSET
    resource: Any = msgspec.UNSET
    subResource: Any = msgspec.UNSET
    requestKind: Any = msgspec.UNSET
    requestResource: Any = msgspec.UNSET
    requestSubResource: Any = msgspec.UNSET
    name: Any = msgspec.UNSET
    namespace: Any = msgspec.UNSET
    operation: Any = msgspec.UNSET
    userInfo: Any = msgspec.UNSET
    object: Any = msgspec.UNSET
    oldObject: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    dryRun: Any = msgspec.UNSET
    options: Any = msgspec.UNSET


class _Review(msgspec.Struct, forbid_unknown_fields=True):
    apiVersion: Any = None
    kind: Any = None
    request: _Request | None = None


_decode_deferring_old = msgspec.json.Decoder(_Review).decode
_decode = msgspec.json.Decoder().decode
_UNSET = msgspec.UNSET
# kube-apiserver writes `oldObject` after `object`, followed only by `dryRun` and `options`.
_NULL_OLD_OBJECT, _TAIL = b'"oldObject":null', -512


def _deferring_old_object(body: bytes) -> dict[str, Any] | None:
    """The review with its request's `oldObject` left as a `Deferred`, or None when the body is
    anything but an AdmissionReview with the fields kube-apiserver sends (then the full decode
    keeps every field, or says what is wrong).

    An UPDATE carries the object twice; most rules read only the new one, and decoding the old
    one is about a quarter of the cost of decoding the review."""
    try:
        review = _decode_deferring_old(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    request = review.request
    if request is None:
        return None
    fields = {k: v for k, v in msgspec.structs.asdict(request).items() if v is not _UNSET}
    old = request.oldObject
    if old is not _UNSET:
        fields["oldObject"] = Deferred(partial(_old_object, old))
    return {"apiVersion": review.apiVersion, "kind": review.kind, "request": fields}


def _old_object(raw: msgspec.Raw) -> Any:
    """A deferred `oldObject`, decoded. Its JSON was checked only as far as skipping it needs, so
    a malformed one (bad UTF-8, an infinite number, too deep, not an object) is found when first
    read: by a rule (its error) or by the webhook itself (a 400 answer)."""
    try:
        old = _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise HTTPError(
            f"the body is not JSON: the request's oldObject: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise too_deep("request.oldObject") from None
    if old is not None and type(old) is not dict:
        raise HTTPError(
            f"request.oldObject must be an object or null, got {show(old)}",
            code="invalid_review",
        )
    return old


def too_deep(field: str) -> HTTPError:
    """The answer to a value nested deeper than admit's recursive code can follow."""
    return HTTPError(f"{field} is nested too deeply to be judged", code="invalid_review")


def decode_review(body: bytes) -> tuple[str, dict[str, Any]]:
    """(apiVersion, request) of an AdmissionReview body; `HTTPError` 400 says what is wrong.

    The request's `oldObject` is a `Deferred` when msgspec could decode the rest (see
    `_deferring_old_object`). With no old object to defer (a CREATE: kube-apiserver sends
    `"oldObject":null` near the end), or when msgspec cannot, orjson decodes everything."""
    review = None
    if body.find(_NULL_OLD_OBJECT, _TAIL) < 0:
        review = _deferring_old_object(body)
    if review is None:
        try:
            review = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HTTPError(f"the body is not JSON: {exc}", code="invalid_json") from None
    if not isinstance(review, dict):
        raise HTTPError("the body must be an AdmissionReview object", code="invalid_review")
    api_version = review.get("apiVersion")
    if type(api_version) is not str or api_version not in VERSIONS:
        raise HTTPError(
            f"apiVersion {show(api_version)} is not supported; send admission.k8s.io/v1 or v1beta1",
            code="invalid_review",
        )
    if review.get("kind") != "AdmissionReview":
        raise HTTPError(
            f"kind {show(review.get('kind'))} is not AdmissionReview", code="invalid_review"
        )
    request = review.get("request")
    if not isinstance(request, dict):
        raise HTTPError("the AdmissionReview has no request", code="invalid_review")
    if not _well_formed(request):
        problem = request_problem(request)
        if problem is not None:
            raise HTTPError(problem, code="invalid_review")
    return api_version, request


_join = "".join
_NO_FIELDS: dict[str, Any] = {}
_NO_GROUPS: list[str] = []
_OBJECT_TYPES = frozenset({dict, type(None)})
_OLD_OBJECT_TYPES = frozenset({dict, type(None), Deferred})
_FLAG_TYPES = frozenset({bool, type(None)})


def _well_formed(request: dict[str, Any]) -> bool:
    """True when `request` has the shape `request_problem` checks, found the quick way (a few
    C-level passes over the fields kube-apiserver sends); False sends it to `request_problem`,
    which names the field, or accepts a shape this quick look does not (a null string, a long
    name). Measured: ~3k instructions per request against ~12k for `request_problem`."""
    get = request.get
    user = get("userInfo", _NO_FIELDS)
    try:
        # `"".join` fails on any member that is not a string, `.values()` on a non-object,
        # `+` on groups or extra values that are not arrays (unpacking would take a string's
        # characters); extra has a key or two, so `sum` is not quadratic in practice.
        names = _join(
            (
                *request["kind"].values(),
                *get("resource", _NO_FIELDS).values(),
                *get("requestKind", _NO_FIELDS).values(),
                *get("requestResource", _NO_FIELDS).values(),
                get("subResource", ""),
                get("requestSubResource", ""),
            )
        )
        strings = [
            get("uid"),
            get("name", ""),
            get("namespace", ""),
            user.get("username", ""),
            user.get("uid", ""),
        ]
        extra: list[str] = sum(user.get("extra", _NO_FIELDS).values(), [])  # noqa: RUF017
        _join(strings + user.get("groups", _NO_GROUPS) + extra)
        return bool(
            len(names) <= MAX_NAME  # then each part is, too
            and get("uid")
            and get("operation") in OPERATIONS
            and type(get("object")) in _OBJECT_TYPES
            and type(get("oldObject")) in _OLD_OBJECT_TYPES
            and type(get("options")) in _OBJECT_TYPES
            and type(get("dryRun")) in _FLAG_TYPES
        )
    except (AttributeError, TypeError, KeyError):
        return False


def annotation_key(rule_key: str) -> str:
    """A valid audit annotation key for a rule (kube-apiserver prefixes the webhook name)."""
    key = _ANNOTATION_KEY.sub(".", rule_key).strip("._-")
    return key[:63].rstrip("._-") or "admit"


def response_for(uid: str, decision: Decision, *, mutating: bool) -> AdmissionResponseV1:
    """The `response` of an AdmissionReview answer for a decision."""
    response: AdmissionResponseV1 = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": decision.message}
    if decision.warnings:
        response["warnings"] = [w[:MAX_WARNING] for w in decision.warnings]
    if mutating and decision.patch and decision.allowed:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(decision.patch))).decode()
    if decision.audits:
        annotations: dict[str, str] = {}
        for rule_key, message in decision.audits:
            key = annotation_key(rule_key)
            annotations[key] = f"{annotations[key]}; {message}" if key in annotations else message
        response["auditAnnotations"] = annotations
    return response


def answer(api_version: str, uid: str, decision: Decision, *, mutating: bool) -> bytes:
    """The encoded AdmissionReview answering a request with `decision`."""
    if decision.allowed and not (decision.warnings or decision.audits or decision.patch):
        return encode_review(api_version, {"uid": uid, "allowed": True})  # a plain allow
    return encode_review(api_version, response_for(uid, decision, mutating=mutating))


def encode_review(api_version: str, response: AdmissionResponseV1) -> bytes:
    review: AdmissionReviewV1 = {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": response,
    }
    return orjson.dumps(review)
