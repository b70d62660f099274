"""`admit check -o junit`: one testcase per rule and manifest, named so that every name is
unique and stays the same from run to run (`pods.yaml:12 Pod/default/web policy/rule`), for CI
systems that track tests by name. Valid against the JUnit schema of Jenkins' xUnit plugin."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from admit.cli.report import Report, worst

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def unique(name: str, seen: dict[str, int]) -> str:
    """`name`, or `name #2`, `#3`... for the second and later of equal names (two objects a
    JSON list holds on one line, say), in input order: stable from run to run."""
    count = seen[name] = seen.get(name, 0) + 1
    return name if count == 1 else f"{name} #{count}"


def to_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name="admit check")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seen: dict[str, int] = {}
    for item, r, found in report.results():
        case = ET.SubElement(
            suite,
            "testcase",
            classname=item.manifest.source,
            name=unique(item.case_name(r), seen),
            time=f"{r.duration_ns / 1e9:.6f}",
        )
        counts["tests"] += 1
        outcome = worst(found)
        text = "\n".join(
            row.message + (f"  [{row.path}]" if row.path else "") for row in found if row.message
        )
        if outcome == "skip":
            ET.SubElement(case, "skipped", message="the rule does not apply")
            counts["skipped"] += 1
        elif outcome == "error":
            ET.SubElement(case, "error", message=text, type="rule_error").text = text
            counts["errors"] += 1
        elif report.failing(outcome):
            failing = [row for row in found if report.failing(row.outcome)]
            first = failing[0].message or ""
            ET.SubElement(case, "failure", message=first, type=outcome).text = text
            counts["failures"] += 1
        elif outcome == "mutate":
            patch = json.dumps(list(r.patch), separators=(",", ":"))
            ET.SubElement(case, "system-out").text = f"mutate: {patch}"
        elif text:
            ET.SubElement(case, "system-out").text = f"{outcome}: {text}"
    for error in report.errors:
        where = error.path or "input"
        if error.line is not None:
            where += f":{error.line}"
        case = ET.SubElement(
            suite, "testcase", classname=error.path or "input", name=unique(f"{where} read", seen)
        )
        ET.SubElement(case, "error", message=str(error), type="input_error")
        counts["tests"] += 1
        counts["errors"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return XML_HEADER + ET.tostring(suite, encoding="unicode")
