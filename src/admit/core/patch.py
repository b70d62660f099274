"""Mutation support: private copies of objects, the mutable object mutate rules edit, and the
RFC 6902 patch between before and after (computed with `jsonpatch`)."""

from __future__ import annotations

from typing import Any

import jsonpatch

from admit.core.review import CONTAINER_SECTIONS, Request


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists, scalars); much cheaper than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {k: copy_json(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class MutableObject(dict[str, Any]):
    """The object a mutate rule edits: a plain dict plus shortcuts.

    `obj.containers` lists every container dict (edit them in place), `obj.labels` and
    `obj.annotations` are created on first use, `obj.request` is the read-only request.
    """

    __slots__ = ("request",)

    def __init__(self, content: dict[str, Any], request: Request) -> None:
        super().__init__(content)
        self.request = request

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.setdefault("metadata", {})
        return meta

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.setdefault("spec", {})
        return spec

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.metadata.setdefault("labels", {})
        return labels

    @property
    def annotations(self) -> dict[str, str]:
        annotations: dict[str, str] = self.metadata.setdefault("annotations", {})
        return annotations

    @property
    def containers(self) -> list[dict[str, Any]]:
        spec = self.get("spec")
        if not isinstance(spec, dict):
            return []
        found: list[dict[str, Any]] = []
        for section in CONTAINER_SECTIONS:
            items = spec.get(section)
            if isinstance(items, list):
                found.extend(c for c in items if isinstance(c, dict))
        return found


def make_patch(before: Any, after: Any) -> list[dict[str, Any]]:
    """The RFC 6902 operations turning `before` into `after`."""
    operations: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return operations


def apply_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """`document` with `operations` applied (a new object; the input is left alone)."""
    return jsonpatch.apply_patch(document, operations, in_place=False)
