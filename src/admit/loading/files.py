"""Reading Kubernetes manifests for `admit check`: files, directories, stdin; multi-document
YAML, JSON and `List` kinds, each object with its file, line and document.

What is not a Kubernetes object (a Helm `Chart.yaml` or `values.yaml`, a `package.json`, a
kustomization) is a `Skipped` note, not an error; the caller decides whether that is fatal
(`--strict`). What cannot be read is an `InputError` with file and line; reading goes on past
either, so one bad file never hides the results of the others.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from admit.core.errors import InputError
from admit.loading.globs import PathFilter
from admit.loading.yamlfile import LineDict, error_line, error_text, load_all

SUFFIXES = frozenset({".yaml", ".yml", ".json"})
STDIN = "-"
STDIN_LABEL = "<stdin>"


def read_input(source: str) -> str | InputError:
    """The text of a file, or of stdin for `-`; what cannot be read is an `InputError` naming
    it (for the caller to report and go on)."""
    label = STDIN_LABEL if source == STDIN else source
    try:
        return sys.stdin.read() if source == STDIN else Path(source).read_text("utf-8")
    except FileNotFoundError:
        return InputError("no such file or directory", path=label)
    except (OSError, UnicodeDecodeError) as exc:
        return InputError(f"cannot read: {exc}", path=label)
# Files of tools that render manifests rather than API objects: kube-apiserver never sees them.
_TOOL_GROUPS = {
    "kustomize.config.k8s.io": "a kustomization: check `kustomize build` output through stdin",
    "config.kubernetes.io": "a KRM function's configuration, not an API object",
}


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object and where it was written: `source` (a path as given, or
    `<stdin>`), the line its mapping starts on, and its document's position in the file (from 1;
    the items of a `List` share their document)."""

    obj: dict[str, Any]
    source: str
    line: int | None
    document: int = 1

    @property
    def where(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A document that is not a Kubernetes object, and why."""

    source: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.reason}"

    def error(self) -> InputError:
        return InputError(self.reason, path=self.source, line=self.line)


Item = Manifest | Skipped | InputError


def _files(paths: Iterable[str], only: PathFilter) -> Iterator[str]:
    for path in paths:
        if path == STDIN:
            yield path
        elif not os.path.isdir(path):
            if only.admits(path, path):
                yield path
        else:
            for dirpath, dirnames, filenames in os.walk(path):
                relative = os.path.relpath(dirpath, path)
                relative = "" if relative == "." else relative + "/"
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if not d.startswith(".") and not only.prunes(relative + d)
                )
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    if not name.startswith(".") and only.admits(relative + name, full, SUFFIXES):
                        yield full


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
        hint = ""
        if "{{" in text:
            hint = " (a Helm template? check `helm template` output through stdin, or --exclude it)"
        raise InputError(
            f"invalid YAML: {error_text(exc)}{hint}", path=source, line=error_line(exc)
        ) from exc


def _objects(source: str, line: int | None, doc: Any, document: int) -> Iterator[Item]:
    if doc is None:
        return
    if not isinstance(doc, dict):
        what = type(doc).__name__
        yield Skipped(source, line, f"not a Kubernetes object (a {what}, not a mapping)")
        return
    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        yield Skipped(source, line, "not a Kubernetes object (no kind)")
        return
    if not isinstance(api_version, str) or not api_version:
        yield Skipped(source, line, f"not a Kubernetes object (a {kind} with no apiVersion)")
        return
    tool = _TOOL_GROUPS.get(api_version.rpartition("/")[0])
    if tool is not None:
        yield Skipped(source, line, f"not a Kubernetes object ({tool})")
        return
    items = doc.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for item in items:
            item_line = item.line if isinstance(item, LineDict) else line
            yield from _objects(source, item_line, item, document)
        return
    yield Manifest(doc, source, line, document)


def read_manifests(
    paths: Iterable[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Iterator[Item]:
    """Every object in `paths` (files, directories searched recursively, `-` for stdin), in
    order, with a `Skipped` note or an `InputError` in place of whatever is not one.

    `include` globs choose which files are read (default: `*.yaml`, `*.yml`, `*.json` in
    directories, every file named), `exclude` globs leave files and directories out; see
    `admit.loading.globs` for how a glob matches."""
    only = PathFilter(tuple(include), tuple(exclude))
    for source in _files(paths, only):
        label = STDIN_LABEL if source == STDIN else source
        text = read_input(source)
        if isinstance(text, InputError):
            yield text
            continue
        try:
            for document, (line, doc) in enumerate(_documents(label, text), 1):
                yield from _objects(label, line, doc, document)
        except InputError as exc:
            yield exc
