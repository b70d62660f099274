"""`admit check -o github`: GitHub Actions workflow commands, so each finding shows as an
annotation on its file and line in the pull request (`::error file=...,line=...::...`):
enforced failures and rule errors as errors, warnings as warnings, audits as notices. A summary
line closes the output, as the job log shows it."""

from __future__ import annotations

from admit.cli.report import Report, Reported

_COMMANDS: dict[Reported, str] = {
    "fail": "error", "error": "error", "warn": "warning", "audit": "notice", "excepted": "notice",
}  # fmt: skip


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF are encoded, as the runner decodes them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`, which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value
    )
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def to_github(report: Report) -> str:
    lines = []
    for item, r, found in report.results():
        for row in found:
            kind = _COMMANDS.get(row.outcome)
            if kind is None:
                continue
            if row.outcome == "warn" and report.fail_on_warn:
                kind = "error"
            text = f"{item.label}: {row.message}" + (f" [{row.path}]" if row.path else "")
            where = {} if item.from_stdin else {"file": item.manifest.source}
            lines.append(
                command(kind, text, **where, line=item.manifest.line or "", title=r.key)
            )
    for error in report.errors:
        lines.append(command("error", str(error), file=error.path, line=error.line or ""))
    lines.append(report.headline())
    return "\n".join(lines)
