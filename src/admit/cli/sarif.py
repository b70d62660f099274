"""`admit check -o sarif`: SARIF 2.1.0, the format code-scanning services (GitHub, GitLab,
Azure DevOps) read. Each validating rule is a `reportingDescriptor` with its docstring as help;
each failing, warning, audited or erroring rule result is a `result` located at its manifest's
file and line, with the object it is about as a logical location."""

from __future__ import annotations

import hashlib
import inspect
import os
import urllib.parse
from pathlib import Path
from typing import Any

from admit import __version__
from admit.cli.report import Checked, Report, Reported, Row
from admit.core.outcome import Action
from admit.core.rules import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT_ID = "%SRCROOT%"  # the directory admit ran in: paths below it are relative to it
_LEVELS: dict[Reported, str] = {
    "fail": "error", "error": "error", "warn": "warning", "audit": "note", "excepted": "note",
}  # fmt: skip
_DEFAULT_LEVELS: dict[Action, str] = {"enforce": "error", "warn": "warning", "audit": "note"}
_ACTIONS: dict[Action, str] = {
    "enforce": "a failure denies the request",
    "warn": "a failure is returned to the client as a warning",
    "audit": "a failure is recorded only",
}


def _docstring(rule: Rule) -> str:
    return inspect.cleandoc(rule.func.__doc__ or "").strip()


def descriptor(rule: Rule) -> dict[str, Any]:
    doc = _docstring(rule)
    summary = rule.description or rule.key
    help_text = f"{doc or summary}\n\nAction: {rule.action} ({_ACTIONS[rule.action]})."
    return {
        "id": rule.key,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": doc or summary},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": _DEFAULT_LEVELS[rule.action]},
        "properties": {"policy": rule.policy, "action": rule.action},
    }


def artifact(path: str, cwd: str) -> dict[str, Any]:
    """An artifactLocation: relative to where admit ran when below it, else a file URI."""
    absolute = os.path.abspath(path)
    if absolute == cwd or absolute.startswith(cwd + os.sep):
        relative = Path(os.path.relpath(absolute, cwd)).as_posix()
        return {"uri": urllib.parse.quote(relative), "uriBaseId": ROOT_ID}
    return {"uri": Path(absolute).as_uri()}


def location(item: Checked, cwd: str) -> dict[str, Any]:
    found: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": item.object_path, "kind": "resource"}]
    }
    if not item.from_stdin:
        physical: dict[str, Any] = {"artifactLocation": artifact(item.manifest.source, cwd)}
        if item.manifest.line:
            physical["region"] = {"startLine": item.manifest.line}
        found["physicalLocation"] = physical
    return found


def _fingerprint(item: Checked, key: str, row: Row) -> str:
    """Stable across runs and line moves: the object, the rule and what it said."""
    text = "\0".join((item.object_path, key, row.message or "", row.path or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def to_sarif(report: Report) -> dict[str, Any]:
    cwd = os.getcwd()
    rules = [r for r in report.policy_set.rules if r.type == "validate"]
    index = {r.key: i for i, r in enumerate(rules)}
    results = []
    for item, r, found in report.results():
        for row in found:
            level = _LEVELS.get(row.outcome)
            if level is None:
                continue
            text = f"{item.label}: {row.message}" + (f" [{row.path}]" if row.path else "")
            result: dict[str, Any] = {
                "ruleId": r.key,
                "level": level,
                "message": {"text": text},
                "locations": [location(item, cwd)],
                "partialFingerprints": {"admitFinding/v1": _fingerprint(item, r.key, row)},
                "properties": {
                    "result": row.outcome,
                    "action": r.action,
                    "resource": item.resource,
                    "path": row.path,
                    "document": item.manifest.document,
                },
            }
            if r.key in index:
                result["ruleIndex"] = index[r.key]
            if row.outcome == "excepted" and r.exception is not None:
                # SARIF's own word for it: code scanning shows the finding as dismissed.
                justification = f"{r.exception.describe()}: {r.exception.reason}"
                result["suppressions"] = [
                    {"kind": "external", "status": "accepted", "justification": justification}
                ]
            results.append(result)
    notifications: list[dict[str, Any]] = []
    for error in report.errors:
        note: dict[str, Any] = {"level": "error", "message": {"text": str(error)}}
        if error.path and not error.path.startswith("<"):
            physical: dict[str, Any] = {"artifactLocation": artifact(error.path, cwd)}
            if error.line:
                physical["region"] = {"startLine": error.line}
            note["locations"] = [{"physicalLocation": physical}]
        notifications.append(note)
    for skipped in report.skipped:
        notifications.append({"level": "note", "message": {"text": f"skipped {skipped}"}})
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "admit",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [descriptor(r) for r in rules],
            }
        },
        "originalUriBaseIds": {ROOT_ID: {"uri": Path(cwd).as_uri() + "/"}},
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "exitCode": report.exit_code,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
