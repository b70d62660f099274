"""`admit check -o table`: one row per violation (and, with -v, per passing or skipped rule),
messages wrapped to the terminal's width, results coloured where colour is wanted."""

from __future__ import annotations

import json
import textwrap

import click

from admit.cli.report import Report

_COLOURS = {
    "fail": "red", "error": "magenta", "warn": "yellow", "audit": "blue", "mutate": "cyan",
    "pass": "green", "skip": "bright_black", "excepted": "bright_blue",
}  # fmt: skip
_HEADER = ("SOURCE", "RESOURCE", "RULE", "RESULT", "MESSAGE")
_NARROWEST = 24  # below this many columns for messages, wrapping helps no one: lines run on


def to_table(report: Report, *, verbose: bool, color: bool, width: int | None = None) -> str:
    table: list[tuple[str, ...]] = []
    labelled: tuple[object, str, str] = (None, "", "")  # the last item's where and label
    for item, r, found in report.results():
        for entry in found:
            if not verbose and entry.outcome in ("pass", "skip"):
                continue
            if labelled[0] is not item:
                labelled = (item, item.manifest.where, item.label)
            if entry.outcome == "mutate":
                text = json.dumps(list(r.patch), separators=(",", ":"))
            else:
                text = (entry.message or "") + (f"  [{entry.path}]" if entry.path else "")
            table.append((labelled[1], labelled[2], r.key, entry.outcome, text))
    lines = []
    if table:
        widths = [max(len(row[i]) for row in [_HEADER, *table]) for i in range(4)]
        indent = sum(widths) + 2 * 4
        room = None if width is None else width - indent
        for n, row in enumerate([_HEADER, *table]):
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            if color and n:
                cells[3] = click.style(cells[3], fg=_COLOURS.get(row[3]), bold=row[3] == "fail")
            message = row[4]
            if room is not None and room >= _NARROWEST and len(message) > room:
                message = ("\n" + " " * indent).join(textwrap.wrap(message, room))
            lines.append("  ".join([*cells, message]).rstrip())
    lines.append(report.headline())
    return "\n".join(lines)
