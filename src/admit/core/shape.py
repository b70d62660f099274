"""The shape of an AdmissionRequest: which fields admit itself reads, and of what JSON type they
must be. The webhook answers 400 naming the first field that breaks it, before any rule runs;
the console's playground says the same about a pasted request.

Checked: every field outside the objects (uid, kind, resource, subResource, requestKind,
requestResource, requestSubResource, name, namespace, operation, userInfo and its members,
dryRun), and that object, oldObject and options are objects (or null). Inside the objects rules
read through views, which never fail on a wrong type; the one part admit reads itself, the
labels, is checked when read (`object_labels`). Unknown fields are kept and left unchecked.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from admit.core.errors import InputError
from admit.core.match import OPERATIONS

# The longest group, version, kind, resource or subresource accepted (a DNS subdomain, the
# longest name Kubernetes gives any of them): per-kind caches are keyed by these.
MAX_NAME = 253
_RESOURCES = ("resource", "requestResource")
_STRINGS = ("subResource", "requestSubResource", "name", "namespace")
_OBJECTS = ("object", "oldObject", "options")
_shown = reprlib.Repr()
_shown.maxstring, _shown.maxother, _shown.maxlevel = 40, 40, 2


class InvalidRequest(InputError):
    """An AdmissionRequest field of the wrong type or size: the webhook answers 400. Raised
    also when a part decoded only when read (a deferred oldObject) turns out malformed."""

    code = "invalid_review"

    def __init__(self, message: str, *, code: str = "invalid_review") -> None:
        super().__init__(message)
        self.code = code


def show(value: Any) -> str:
    """A value as a message can quote it: its JSON type and a short, depth-safe excerpt."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    try:
        return f"{_json_type(value)} {_shown.repr(value)}"
    except ValueError:  # an integer with more digits than Python prints
        return _json_type(value)


def _cut(name: str) -> str:
    """A member's name, shortened for a message."""
    return name if len(name) <= 40 else f"{name[:37]}..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def request_problem(raw: Any) -> str | None:
    """The first way `raw` (the `request` of an AdmissionReview) breaks the shape above, naming
    the field, or None when it has none."""
    if not isinstance(raw, Mapping):
        return f"request must be an object, got {show(raw)}"
    for field in ("uid", "kind", "operation"):
        if raw.get(field) is None:
            return f"the AdmissionReview request has no {field} (request.{field})"
    uid = raw["uid"]
    if not isinstance(uid, str) or not uid:
        return f"request.uid must be a non-empty string, got {show(uid)}"
    for field in ("kind", "requestKind", *_RESOURCES):
        problem = _names_problem(f"request.{field}", raw.get(field), required=field == "kind")
        if problem:
            return problem
    for field in _STRINGS:
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            return f"request.{field} must be a string, got {show(value)}"
    for field in ("subResource", "requestSubResource"):
        value = raw.get(field) or ""
        if len(value) > MAX_NAME:
            return f"request.{field} is {len(value)} characters long; at most {MAX_NAME}"
    operation = raw.get("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        choices = ", ".join(sorted(OPERATIONS))
        return f"request.operation must be one of {choices}, got {show(operation)}"
    problem = _user_problem(raw.get("userInfo"))
    if problem:
        return problem
    for field in _OBJECTS:
        value = raw.get(field)
        # (a value of no JSON type is a part decoded when read, which checks it then)
        if isinstance(value, (list, str, int, float)):
            return f"request.{field} must be an object or null, got {show(value)}"
    dry_run = raw.get("dryRun")
    if dry_run is not None and not isinstance(dry_run, bool):
        return f"request.dryRun must be true, false or null, got {show(dry_run)}"
    return None


def _names_problem(field: str, value: Any, *, required: bool) -> str | None:
    """kind, resource and their request* twins: objects of strings, each at most MAX_NAME."""
    if value is None and not required:
        return None
    if not isinstance(value, Mapping):
        return f"{field} must be an object of strings, got {show(value)}"
    for member, text in value.items():
        if not isinstance(text, str):
            return f"{field}.{_cut(member)} must be a string, got {show(text)}"
        if len(text) > MAX_NAME:
            return f"{field}.{_cut(member)} is {len(text)} characters long; at most {MAX_NAME}"
    return None


def _user_problem(user: Any) -> str | None:
    if user is None:
        return None
    if not isinstance(user, Mapping):
        return f"request.userInfo must be an object, got {show(user)}"
    for field in ("username", "uid"):
        value = user.get(field)
        if value is not None and not isinstance(value, str):
            return f"request.userInfo.{field} must be a string, got {show(value)}"
    groups = user.get("groups")
    if groups is not None:
        problem = _strings_problem("request.userInfo.groups", groups)
        if problem:
            return problem
    extra = user.get("extra")
    if extra is None:
        return None
    if not isinstance(extra, Mapping):
        return f"request.userInfo.extra must be an object, got {show(extra)}"
    for key, values in extra.items():
        problem = _strings_problem(f"request.userInfo.extra.{_cut(key)}", values)
        if problem:
            return problem
    return None


def _strings_problem(field: str, values: Any) -> str | None:
    if not isinstance(values, list):
        return f"{field} must be an array of strings, got {show(values)}"
    for i, value in enumerate(values):
        if not isinstance(value, str):
            return f"{field}[{i}] must be a string, got {show(value)}"
    return None


def depth(value: Any) -> int:
    """How many levels of arrays and objects `value` nests (iterative: safe at any depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def deepest_field(raw: Mapping[str, Any]) -> str:
    """The field of a request that nests deepest (`object`, `oldObject`...)."""
    return max(raw, key=lambda field: depth(raw[field]), default="")
