"""`admit check -o tap`: the Test Anything Protocol, version 13. One test point per rule and
manifest; a warning is a `not ok ... # TODO` (reported, not failing) unless --fail-on-warn, a
rule that does not apply is `# SKIP`; messages, paths and patches follow as YAML diagnostics."""

from __future__ import annotations

from typing import Any

import yaml

from admit.cli.report import Report, worst


def _diagnostics(block: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump(block, sort_keys=False, allow_unicode=True, width=1000)
    return ["  ---", *("  " + line for line in text.splitlines()), "  ..."]


def _description(text: str) -> str:
    return text.replace("#", "\\#")  # a bare # would start a directive


def to_tap(report: Report) -> str:
    points: list[str] = []
    for item, r, found in report.results():
        outcome = worst(found)
        name = _description(item.case_name(r))
        n = len(points) + 1
        if outcome == "skip":
            points.append(f"ok {n} - {name} # SKIP the rule does not apply")
            continue
        if report.failing(outcome):
            line = f"not ok {n} - {name}"
        elif outcome == "warn":
            line = f"not ok {n} - {name} # TODO warn"
        else:
            line = f"ok {n} - {name}"
        block: dict[str, Any] = {}
        messages = [row for row in found if row.message]
        if messages:
            block["severity"] = outcome
            block["messages"] = [
                {"result": row.outcome, "message": row.message}
                | ({"path": row.path} if row.path else {})
                for row in messages
            ]
        if r.patch:
            block["patch"] = [dict(op) for op in r.patch]
        points.append("\n".join([line, *(_diagnostics(block) if block else [])]))
    for error in report.errors:
        n = len(points) + 1
        points.append(
            "\n".join(
                [f"not ok {n} - {_description(error.path or 'input')} read",
                 *_diagnostics({"severity": "error", "message": str(error)})]
            )
        )  # fmt: skip
    return "\n".join(["TAP version 13", f"1..{len(points)}", *points, f"# {report.headline()}"])
