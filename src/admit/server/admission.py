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
from admit.core.review import Deferred
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
    a malformed one (bad UTF-8, an infinite number) is found when first read: by a rule (its
    error) or by the webhook itself (a 400 answer)."""
    try:
        return _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise HTTPError(
            f"the body is not JSON: the request's oldObject: {exc}", code="invalid_json"
        ) from None


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
    if api_version not in VERSIONS:
        raise HTTPError(
            f"apiVersion {api_version!r} is not supported; send admission.k8s.io/v1 or v1beta1",
            code="invalid_review",
        )
    if review.get("kind") != "AdmissionReview":
        raise HTTPError(
            f"kind {review.get('kind')!r} is not AdmissionReview", code="invalid_review"
        )
    request = review.get("request")
    if not isinstance(request, dict):
        raise HTTPError("the AdmissionReview has no request", code="invalid_review")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise HTTPError("the AdmissionReview request has no uid", code="invalid_review")
    for field in ("kind", "operation"):
        if field not in request:
            raise HTTPError(f"the AdmissionReview request has no {field}", code="invalid_review")
    return api_version, request


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


def refuse(api_version: str, uid: str, message: str) -> bytes:
    """A denial that is not a policy's verdict: admit cannot judge (no policy version)."""
    status: StatusV1 = {"code": 503, "reason": "ServiceUnavailable", "message": message}
    return encode_review(api_version, {"uid": uid, "allowed": False, "status": status})
