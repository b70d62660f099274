"""Reading Kubernetes manifests for `admit check`: files, directories, stdin; multi-document
YAML, JSON and `List` kinds. Each problem is an `InputError` with file and line; reading goes on
past it so one bad file never hides the results of the others."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from admit.core.errors import InputError
from admit.loading.yamlfile import LineDict, error_line, error_text, load_all

SUFFIXES = frozenset({".yaml", ".yml", ".json"})
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object and where it was written."""

    obj: dict[str, Any]
    source: str
    line: int | None

    @property
    def where(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


def _files(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        if path == STDIN or not os.path.isdir(path):
            yield path
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if Path(name).suffix in SUFFIXES and not name.startswith("."):
                    yield os.path.join(dirpath, name)


def _documents(source: str, text: str) -> Iterator[tuple[int | None, Any]]:
    if source.endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            yield 1, json.loads(text)
            return
        except json.JSONDecodeError as exc:
            if source.endswith(".json"):
                raise InputError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno) from exc
    try:
        yield from load_all(text)
    except yaml.YAMLError as exc:
        raise InputError(
            f"invalid YAML: {error_text(exc)}", path=source, line=error_line(exc)
        ) from exc


def _objects(source: str, line: int | None, doc: Any) -> Iterator[Manifest | InputError]:
    if doc is None:
        return
    if not isinstance(doc, dict):
        yield InputError(
            f"expected a Kubernetes object (a mapping), found {type(doc).__name__}",
            path=source,
            line=line,
        )
        return
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        yield InputError("the object has no kind", path=source, line=line)
        return
    if not isinstance(doc.get("apiVersion"), str):
        yield InputError(f"the {kind} has no apiVersion", path=source, line=line)
        return
    items = doc.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for item in items:
            item_line = item.line if isinstance(item, LineDict) else line
            yield from _objects(source, item_line, item)
        return
    yield Manifest(doc, source, line)


def read_manifests(paths: Iterable[str]) -> Iterator[Manifest | InputError]:
    """Every object in `paths` (files, directories searched recursively, `-` for stdin), in
    order, with an `InputError` in place of whatever could not be read."""
    for source in _files(paths):
        label = "<stdin>" if source == STDIN else source
        try:
            text = sys.stdin.read() if source == STDIN else Path(source).read_text("utf-8")
        except FileNotFoundError:
            yield InputError("no such file or directory", path=label)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            yield InputError(f"cannot read: {exc}", path=label)
            continue
        try:
            for line, doc in _documents(label, text):
                yield from _objects(label, line, doc)
        except InputError as exc:
            yield exc
