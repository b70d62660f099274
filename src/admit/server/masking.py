"""Masking decision-log events as OPA's `system.log.mask` does: each mask is a JSON pointer to
erase (`"/input/password"`) or an operation (`{"op": "upsert", "path": ..., "value": ...}`,
`{"op": "remove", "path": ...}`). Pointers must start with `/input` or `/result`; a pointer to
something absent is ignored. What was erased is listed in the event's `erased`, what was
overwritten in `masked`, as OPA records them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ROOTS = ("input", "result")


def tokens(pointer: str) -> list[str]:
    """RFC 6901 reference tokens of a pointer (`/a/b~1c` -> ["a", "b/c"])."""
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def valid_pointer(pointer: Any) -> bool:
    """Whether `pointer` is a JSON pointer OPA would mask: under /input or /result."""
    return (
        isinstance(pointer, str)
        and pointer.startswith("/")
        and bool(tokens(pointer))
        and tokens(pointer)[0] in ROOTS
    )


def _parent(event: dict[str, Any], path: list[str]) -> tuple[Any, str | int] | None:
    """The container holding the pointer's last token, and that token (an int for a list)."""
    node: Any = event
    for token in path[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    last = path[-1]
    if isinstance(node, dict):
        return node, last
    if isinstance(node, list) and last.isdigit():
        return node, int(last)
    return None


def apply_masks(event: dict[str, Any], masks: Iterable[Any]) -> None:
    """Apply each mask to `event` in place (masks that are neither a pointer nor an operation
    on one are ignored); record `erased` and `masked`."""
    erased: list[str] = list(event.get("erased") or ())
    masked: list[str] = list(event.get("masked") or ())
    for mask in masks:
        op, pointer, value = "remove", mask, None
        if isinstance(mask, dict):
            op, pointer, value = mask.get("op", "remove"), mask.get("path"), mask.get("value")
        if op not in ("remove", "upsert") or not valid_pointer(pointer):
            continue
        found = _parent(event, tokens(pointer))
        if found is None:
            continue
        container, key = found
        if op == "remove":
            present = key in container if isinstance(container, dict) else (
                isinstance(key, int) and key < len(container)
            )  # fmt: skip
            if not present:
                continue
            del container[key]
            erased.append(pointer)
        else:
            if isinstance(container, list):
                if not isinstance(key, int) or key >= len(container):
                    continue
                container[key] = value
            else:
                container[key] = value
            masked.append(pointer)
    if erased:
        event["erased"] = erased
    if masked:
        event["masked"] = masked
