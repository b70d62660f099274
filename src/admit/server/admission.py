"""The AdmissionReview codec, `admission.k8s.io/v1` and `v1beta1`, to the letter of what
kube-apiserver sends and accepts: the answer echoes the request's apiVersion and uid, carries
`allowed`, a 403 `status` on denial, `warnings`, a base64 `JSONPatch` and `auditAnnotations`."""

from __future__ import annotations

import base64
import re
from functools import partial
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import orjson

from admit.core.decision import Decision
from admit.core.review import Deferred
from admit.core.shape import MAX_NAME, InvalidRequest, deepest_field, request_problem, show
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


Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]  # keys of per-kind caches
Names = dict[str, Name]  # a kind or resource: group, version, kind or resource


class UserInfoV1(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class AdmissionRequestV1(msgspec.Struct, forbid_unknown_fields=True):
    """An AdmissionRequest (v1 and v1beta1) as kube-apiserver sends it: every field it always
    sends is required, every type is checked while decoding (see `admit.core.shape`), and
    `oldObject` is left undecoded."""

    uid: Annotated[str, msgspec.Meta(min_length=1)]
    kind: Names
    resource: Names
    requestKind: Names
    requestResource: Names
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    userInfo: UserInfoV1
    object: dict[str, Any] | None
    oldObject: msgspec.Raw
    dryRun: bool
    options: dict[str, Any] | None
    name: str | msgspec.UnsetType = msgspec.UNSET
    namespace: str | msgspec.UnsetType = msgspec.UNSET
    subResource: Name | msgspec.UnsetType = msgspec.UNSET
    requestSubResource: Name | msgspec.UnsetType = msgspec.UNSET


class AdmissionReviewRequestV1(msgspec.Struct, forbid_unknown_fields=True):
    apiVersion: Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequestV1


_decode_review = msgspec.json.Decoder(AdmissionReviewRequestV1).decode
_decode = msgspec.json.Decoder().decode
_UNSET = msgspec.UNSET
_NULL = msgspec.Raw(b"null")
_OPEN_BRACE = ord("{")


def decode_review(body: bytes) -> tuple[str, dict[str, Any]]:
    """(apiVersion, request) of an AdmissionReview body; `HTTPError` 400 says what is wrong.

    A body with the fields and types kube-apiserver sends is decoded and checked in one pass
    by msgspec, its `oldObject` left as a `Deferred` (decoded when read: an UPDATE carries the
    object twice and most rules read only the new one). Anything else (a missing or unknown
    field, a null, a wrong type, a body nested too deep for msgspec) is decoded whole by
    orjson and checked field by field, so the answer names what is wrong, and a request that
    is only unusual (an extra field, a null name) is served like any other."""
    try:
        review = _decode_review(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _decode_unusual(body)
    except RecursionError:
        return _decode_unusual(body, too_deep_for_msgspec=True)
    r = review.request
    old: Any = r.oldObject
    if old == _NULL:
        old = None
    elif memoryview(old)[0] == _OPEN_BRACE:  # an object (its type, checked for ~1.5k)
        old = Deferred(partial(_old_object, old))
    else:
        return _decode_unusual(body)
    # Built field by field: ~5k instructions, where `asdict` and dropping the unset fields
    # took ~17k and `dict(zip(...))` ~10k.
    fields = {
        "uid": r.uid,
        "kind": r.kind,
        "resource": r.resource,
        "requestKind": r.requestKind,
        "requestResource": r.requestResource,
        "operation": r.operation,
        "userInfo": r.userInfo,
        "object": r.object,
        "oldObject": old,
        "dryRun": r.dryRun,
        "options": r.options,
    }
    if r.name is not _UNSET:
        fields["name"] = r.name
    if r.namespace is not _UNSET:
        fields["namespace"] = r.namespace
    if r.subResource is not _UNSET:
        fields["subResource"] = r.subResource
    if r.requestSubResource is not _UNSET:
        fields["requestSubResource"] = r.requestSubResource
    return review.apiVersion, fields


def _decode_unusual(body: bytes, too_deep_for_msgspec: bool = False) -> tuple[str, dict[str, Any]]:
    """`decode_review` for a body msgspec refused: orjson, then each field checked. A body
    nested deeper than msgspec follows (about a thousand levels, less the stack in use) is
    refused on every endpoint, naming the deepest field: what it could reach (a mutation's
    copy of the object, a patch) would fail the same way."""
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
    problem = request_problem(request)
    if problem is not None:
        raise HTTPError(problem, code="invalid_review")
    if too_deep_for_msgspec:
        raise too_deep(f"request.{deepest_field(request)}")
    return api_version, request


def _old_object(raw: msgspec.Raw) -> Any:
    """A deferred `oldObject`, decoded. Its JSON was checked only as far as skipping it needs, so
    a malformed one (bad UTF-8, an infinite number, too deep, not an object) is found when first
    read: by a rule (its error) or by the webhook itself (a 400 answer)."""
    try:
        old = _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            f"the body is not JSON: the request's oldObject: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise InvalidRequest("request.oldObject is nested too deeply to be judged") from None
    if type(old) is not dict:
        raise InvalidRequest(f"request.oldObject must be an object or null, got {show(old)}")
    return old


def too_deep(field: str) -> HTTPError:
    """The answer to a value nested deeper than admit's recursive code can follow."""
    return HTTPError(f"{field} is nested too deeply to be judged", code="invalid_review")


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
        response["patch"] = base64.b64encode(_patch_json(decision)).decode()
    if decision.audits:
        annotations: dict[str, str] = {}
        for rule_key, message in decision.audits:
            key = annotation_key(rule_key)
            annotations[key] = f"{annotations[key]}; {message}" if key in annotations else message
        response["auditAnnotations"] = annotations
    return response


def _patch_json(decision: Decision) -> bytes:
    try:
        return orjson.dumps(list(decision.patch))
    except orjson.JSONEncodeError as exc:
        raise HTTPError(
            f"the mutations' patch cannot be sent as JSON ({exc}): a number in request.object "
            "beyond 64 bits, or a mutation that wrote a value JSON cannot hold",
            code="invalid_patch",
        ) from None


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
