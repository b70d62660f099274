"""`admit test`: run the test cases stored with a bundle and report like pytest does.

Reading and running live in `admit.testing.cases` and `admit.testing.runner`; this command only
chooses the output (text, json, junit) and the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import click

from admit.cli.expiry import exception_notes, exceptions_json
from admit.cli.junit import XML_HEADER, unique
from admit.cli.options import BUNDLE, BUNDLE_HELP, overrides_options
from admit.cli.terminal import wants_color
from admit.core.errors import InputError
from admit.loading.overrides import Overrides
from admit.testing.runner import CaseResult, Report, run_bundle

USAGE_EXIT = InputError.exit_code
_COLOURS = {"passed": "green", "failed": "red", "error": "magenta"}
_MARKS = {"passed": ".", "failed": "F", "error": "E"}


def _rule(title: str, char: str = "=") -> str:
    side = max(3, (78 - len(title) - 2) // 2)
    return f"{char * side} {title} {char * side}"


def _summary(report: Report) -> str:
    parts = [
        f"{n} {'errors' if v == 'error' and n != 1 else v}"
        for v in ("failed", "error", "passed")
        if (n := report.count(v))
    ]
    if report.problems:
        parts.append(f"{len(report.problems)} problem{'s' * (len(report.problems) != 1)}")
    return f"{', '.join(parts) or 'no test cases'} in {report.duration_ns / 1e9:.2f}s"


def to_text(report: Report, *, verbose: bool, color: bool) -> str:
    """Progress per file (or per case with `verbose`), then each failure, then a summary."""
    lines: list[str] = []
    by_file: dict[str, list[CaseResult]] = {}
    for result in report.results:
        by_file.setdefault(result.case.file, []).append(result)
    for file, results in by_file.items():
        if verbose:
            for r in results:
                word = click.style(r.outcome.upper(), fg=_COLOURS[r.outcome]) if color else None
                lines.append(f"{r.case.id} {word or r.outcome.upper()}")
        else:
            marks = "".join(_MARKS[r.outcome] for r in results)
            lines.append(f"{file} {marks}")
    if report.problems:
        lines += ["", _rule("ERRORS"), *(str(p) for p in report.problems)]
    failures = [r for r in report.results if r.outcome != "passed"]
    if failures:
        lines += ["", _rule("FAILURES")]
        for r in failures:
            lines += [_rule(r.case.id, "_"), r.report(), ""]
    summary = _rule(_summary(report))
    bad = failures or report.problems or not report.results
    lines.append(click.style(summary, fg="red" if bad else "green") if color else summary)
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    """A stable document: one entry per case, every test-file problem, and the counts."""
    return {
        "cases": [
            {
                "file": r.case.file,
                "name": r.case.name,
                "line": r.case.line,
                "outcome": r.outcome,
                "duration_ms": round(r.duration_ns / 1e6, 3),
                "error": r.error or None,
                "failures": [
                    {
                        "resource": m.resource,
                        "target": m.target,
                        "field": m.field,
                        "expected": m.expected,
                        "actual": m.actual,
                    }
                    for m in r.mismatches
                ],
            }
            for r in report.results
        ],
        "problems": [str(p) for p in report.problems],
        "summary": {v: report.count(v) for v in ("passed", "failed", "error")},
        **({"exceptions": exceptions_json(report.exceptions)} if report.exceptions else {}),
    }


def to_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name="admit test")
    counts = {"tests": 0, "failures": 0, "errors": 0}
    seen: dict[str, dict[str, int]] = {}  # per file: case names are unique within their file
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=r.case.file,
            name=unique(r.case.name, seen.setdefault(r.case.file, {})),
            time=f"{r.duration_ns / 1e9:.6f}",
        )
        counts["tests"] += 1
        if r.outcome == "failed":
            text = r.report()
            ET.SubElement(
                case, "failure", message=text.splitlines()[0], type="mismatch"
            ).text = text
            counts["failures"] += 1
        elif r.outcome == "error":
            ET.SubElement(case, "error", message=r.error, type="case_error")
            counts["errors"] += 1
    for problem in report.problems:
        case = ET.SubElement(suite, "testcase", classname=problem.path, name="read")
        ET.SubElement(case, "error", message=str(problem), type=problem.code)
        counts["tests"] += 1
        counts["errors"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return XML_HEADER + ET.tostring(suite, encoding="unicode")


@click.command("test", epilog=BUNDLE_HELP)
@click.argument("bundle", default=".", type=BUNDLE)
@click.option("-k", "select", metavar="TEXT", help="Run only cases whose FILE::NAME contains TEXT.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="text for people, json or junit for tools.",
)
@overrides_options
@click.option("-v", "--verbose", is_flag=True, help="Text: one line per case.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text  [default: on a terminal, unless NO_COLOR is set]",
)
def run_tests(
    bundle: Path,
    select: str | None,
    output: str,
    config_files: tuple[str, ...],
    assignments: tuple[str, ...],
    verbose: bool,
    color: bool | None,
) -> int:
    """Run the test cases stored in BUNDLE (default: the current directory).

    Test cases live in files named *_test.yaml anywhere in the bundle:

    \b
      cases:
      - name: a privileged container is denied
        resource: {file: pods/privileged.yaml}   # or inline; `resources:` for several
        operation: CREATE                        # UPDATE, DELETE, CONNECT
        old_object: {...}                        # UPDATE/DELETE (default: the resource)
        namespace: default                       # namespace_labels: {env: prod}
        user: alice                              # groups: [devs]
        cluster: [...]                           # objects already in the cluster
        expect:
          privileged-containers: fail            # a policy: the worst of its rules
          privileged-containers/privileged_containers:
            result: fail                         # pass | fail | warn | skip | error
            messages: [...]                      # exact, in order
            contains: privileged                 # a substring some message has
            paths: ['spec.containers[0].securityContext.privileged']
        allowed: false                           # the decision; patch: [...] its JSON patch

    A file may also hold `config:`, admit.yaml-style overrides for its cases (applied over
    --config and --set). Each resource is evaluated as `admit check` would evaluate it; a rule
    that does not apply counts as skip.

    \b
    Examples:
      admit test my-bundle/
      admit test my-bundle/ -k privileged -o junit > report.xml
      admit test library:pss-restricted

    Exit codes: 0 every case passed, 1 a case failed or errored, 2 a test file is invalid or
    there is nothing to test, 3 the bundle failed to load.
    """
    overrides = Overrides.read(config_files, assignments)
    report = run_bundle(bundle, select=select, overrides=overrides)
    for note in exception_notes(report.exceptions):
        click.echo(f"admit: {note}", err=True)
    if output == "json":
        click.echo(json.dumps(to_json(report), indent=2, default=str))
    elif output == "junit":
        click.echo(to_junit(report))
    else:
        use_color = wants_color(color)
        click.echo(to_text(report, verbose=verbose, color=use_color), color=use_color)
    if report.problems or not report.results:
        if not report.results and not report.problems:
            click.echo(
                f"admit: no test cases found in {bundle} (files named *_test.yaml)", err=True
            )
        return USAGE_EXIT
    return 0 if report.ok else 1
