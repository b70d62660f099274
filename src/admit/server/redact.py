"""Secrets out of what admit stores or shows about a request: the console's decision stream and
detail pages and the playground's answers. (The decision log stores no objects at all.)

Redacted: the values of a Secret's `data` and `stringData` (its keys stay, so a policy can be
debugged), and the `kubectl.kubernetes.io/last-applied-configuration` annotation of an object
of any kind, which holds the whole manifest as last applied, a Secret's values included. Patch
operations that would write either are redacted the same way. Objects are copied only along
the paths that change; what is given is never modified.
"""

from __future__ import annotations

from typing import Any

REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_FIELDS = ("data", "stringData")
_SECRET_PREFIXES = ("/data/", "/stringData/")
_LAST_APPLIED_POINTER = "/metadata/annotations/" + LAST_APPLIED.replace("/", "~1")


def is_secret(obj: Any) -> bool:
    """Whether a decoded object is a Secret (by its kind alone: better one object too many
    redacted than one Secret shown)."""
    return isinstance(obj, dict) and obj.get("kind") == "Secret"


def redact_object(obj: Any, *, secret: bool = False) -> Any:
    """`obj` with its secret parts replaced by REDACTED (see the module docstring); `secret`
    says it is a Secret when the object itself does not (a request's kind does)."""
    if not isinstance(obj, dict):
        return obj
    changed: dict[str, Any] | None = None
    if secret or is_secret(obj):
        for field in _SECRET_FIELDS:
            values = obj.get(field)
            if isinstance(values, dict) and values:
                changed = changed if changed is not None else dict(obj)
                changed[field] = dict.fromkeys(values, REDACTED)
            elif values is not None and not isinstance(values, dict):
                changed = changed if changed is not None else dict(obj)
                changed[field] = REDACTED
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        changed = changed if changed is not None else dict(obj)
        assert isinstance(metadata, dict)
        changed["metadata"] = {
            **metadata,
            "annotations": {**annotations, LAST_APPLIED: REDACTED},
        }
    return obj if changed is None else changed


def redact_patch(operations: Any, *, secret: bool) -> Any:
    """JSON Patch operations with the values they would write into a Secret's data or the
    last-applied annotation redacted (operations on a parent redact inside their value)."""
    if not isinstance(operations, list):
        return operations
    redacted = []
    for op in operations:
        path = op.get("path") if isinstance(op, dict) else None
        if isinstance(path, str) and "value" in op and _touches_secret(path, secret):
            op = {**op, "value": _redact_value(path, op["value"], secret)}
        redacted.append(op)
    return redacted


def _touches_secret(path: str, secret: bool) -> bool:
    if secret and (path in ("", "/data", "/stringData") or path.startswith(_SECRET_PREFIXES)):
        return True
    return path in ("", "/metadata", "/metadata/annotations", _LAST_APPLIED_POINTER)


def _redact_value(path: str, value: Any, secret: bool) -> Any:
    if path == "":
        return redact_object(value, secret=secret)
    if path == "/metadata":
        return redact_object({"metadata": value})["metadata"]
    if path == "/metadata/annotations":
        return redact_object({"metadata": {"annotations": value}})["metadata"]["annotations"]
    if path in ("/data", "/stringData"):
        return dict.fromkeys(value, REDACTED) if isinstance(value, dict) else REDACTED
    return REDACTED
