"""`admit check` results as the documented JSON document, a table, or JUnit XML.

JSON (stable): {"results": [{"resource": {"apiVersion", "kind", "namespace", "name"},
"policy", "rule", "result", "action", "message", "path"}], "summary": {outcome: count}}.
One entry per violation; a passing or skipped rule has one entry with null message and path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import click

from admit.core.decision import Decision
from admit.core.errors import InputError
from admit.core.outcome import OUTCOMES, RuleResult
from admit.loading.manifests import Manifest


@dataclass(frozen=True, slots=True)
class Checked:
    """A manifest and the decision about it."""

    manifest: Manifest
    decision: Decision
    namespace: str = ""

    @property
    def resource(self) -> dict[str, str]:
        obj = self.manifest.obj
        meta = obj.get("metadata") or {}
        return {
            "apiVersion": str(obj.get("apiVersion", "")),
            "kind": str(obj.get("kind", "")),
            "namespace": str(meta.get("namespace") or self.namespace),
            "name": str(meta.get("name") or meta.get("generateName") or ""),
        }

    @property
    def label(self) -> str:
        r = self.resource
        where = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]
        return f"{r['kind']} {where}"


def _relative(location: str | None) -> str | None:
    if not location:
        return None
    path, _, line = location.rpartition(":")
    with contextlib.suppress(ValueError):  # another drive on Windows
        path = os.path.relpath(path)
    return f"{path}:{line}"


def error_message(result: RuleResult) -> str:
    where = _relative(result.location)
    return f"rule {result.key} failed: {result.error}" + (f" (at {where})" if where else "")


def entries(result: RuleResult) -> Iterator[tuple[str | None, str | None]]:
    """(message, path) pairs of a result: one per violation, or a single empty one."""
    if result.result == "error":
        yield error_message(result), None
    elif result.violations:
        for v in result.violations:
            yield v.message, v.path
    else:
        yield None, None


def summary(checked: Iterable[Checked]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for item in checked:
        for result in item.decision.results:
            counts[result.result] += 1
    return counts


def to_json(checked: list[Checked], errors: list[InputError]) -> dict[str, Any]:
    results = [
        {
            "resource": item.resource,
            "policy": r.policy,
            "rule": r.rule,
            "result": r.result,
            "action": r.action,
            "message": message,
            "path": path,
        }
        for item in checked
        for r in item.decision.results
        for message, path in entries(r)
    ]
    document: dict[str, Any] = {"results": results, "summary": summary(checked)}
    if errors:
        document["errors"] = [str(e) for e in errors]
    return document


_COLOURS = {"fail": "red", "error": "magenta", "warn": "yellow", "pass": "green", "skip": "cyan"}


def to_table(checked: list[Checked], *, verbose: bool, color: bool) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for item in checked:
        for r in item.decision.results:
            if not verbose and r.result in ("pass", "skip"):
                continue
            for message, path in entries(r):
                outcome = r.result if r.action == "enforce" else f"{r.result} ({r.action})"
                text = (message or "") + (f"  [{path}]" if path else "")
                rows.append((item.label, r.key, outcome, text))
    lines = []
    if rows:
        header = ("RESOURCE", "RULE", "RESULT", "MESSAGE")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        for n, row in enumerate([header, *rows]):
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            if color and n:
                word = row[2].split()[0]
                cells[2] = click.style(cells[2], fg=_COLOURS.get(word), bold=word != "pass")
            lines.append("  ".join([*cells, row[3]]).rstrip())
    counts = summary(checked)
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts[o]] or ["no rule applied"]
    noun = "resource" if len(checked) == 1 else "resources"
    lines.append(f"{len(checked)} {noun} checked: {', '.join(parts)}")
    return "\n".join(lines)


def to_junit(checked: list[Checked], errors: list[InputError]) -> str:
    suite = ET.Element("testsuite", name="admit check")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for item in checked:
        for r in item.decision.results:
            case = ET.SubElement(suite, "testcase", classname=item.label, name=r.key)
            counts["tests"] += 1
            text = "\n".join(m for m, _ in entries(r) if m)
            if r.result == "skip":
                ET.SubElement(case, "skipped")
                counts["skipped"] += 1
            elif r.result == "error":
                ET.SubElement(case, "error", message=text, type="rule_error")
                counts["errors"] += 1
            elif r.result == "fail" and r.action == "enforce":
                ET.SubElement(case, "failure", message=text, type="violation")
                counts["failures"] += 1
            elif text:
                ET.SubElement(case, "system-out").text = f"{r.result} ({r.action}): {text}"
    for error in errors:
        case = ET.SubElement(suite, "testcase", classname=error.path or "input", name="read")
        ET.SubElement(case, "error", message=str(error), type="input_error")
        counts["tests"] += 1
        counts["errors"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")
