"""YAML with line numbers: mappings remember where they and each of their keys were written,
so every problem in `admit.yaml` or a manifest can be reported as `path:line`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A dict from YAML that knows the line of itself (`line`) and of each key (`lines`)."""

    __slots__ = ("line", "lines")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class _LineLoader(_Base):  # type: ignore[misc]
    pass


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        if key in mapping:
            raise DuplicateKeyError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_all(text: str) -> Iterator[tuple[int, Any]]:
    """Each document of a (multi-document) YAML text with its first line.

    Raises `yaml.YAMLError` (with `problem_mark`) at the first syntax error.
    """
    loader = _LineLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 0
            yield line, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def load_one(text: str) -> Any:
    """A single-document YAML text (an empty text is None)."""
    docs = list(load_all(text))
    if len(docs) > 1:
        raise yaml.YAMLError("expected a single YAML document, found several")
    return docs[0][1] if docs else None


def error_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def error_text(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"{context}, {problem}" if context else str(problem)
    return str(exc).splitlines()[0]
