"""`admit capture`: a decision from the decision log (or a saved one) as a `*_test.yaml` case."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from admit.loading.capture import CaptureError, capture


def _decisions(text: str, where: str) -> list[dict[str, Any]]:
    """The decisions in `text`: one JSON document, or JSON lines (a decision log)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        found = document if isinstance(document, list) else [document]
        return [d for d in found if isinstance(d, dict)]
    decisions = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            decision = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaptureError(f"{where}:{number}: not a JSON decision: {exc.msg}") from None
        if isinstance(decision, dict):
            decisions.append(decision)
    return decisions


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"cannot read {path}: {exc}") from None


def _ids(decision: dict[str, Any]) -> tuple[str, str]:
    """What names a decision: the request's uid and the decision-log line's decision_id."""
    return str(decision.get("uid", "")), str(decision.get("decision_id", ""))


def _find(decisions: list[dict[str, Any]], wanted: str, where: str) -> dict[str, Any]:
    found = [d for d in decisions if wanted in _ids(d)]
    if not found and len(wanted) >= 8:
        found = [d for d in decisions if any(i.startswith(wanted) for i in _ids(d) if i)]
    if not found:
        raise CaptureError(f"no decision with uid {wanted!r} in {where} ({len(decisions)} read)")
    if len({_ids(d)[0] or _ids(d)[1] for d in found}) > 1:
        raise CaptureError(f"{wanted!r} starts {len(found)} decisions' uids in {where}: give more")
    return found[-1]


def _manifest(path: Path) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CaptureError(f"cannot read the resource {path}: {exc}") from None
    if not isinstance(document, dict) or not document.get("kind"):
        raise CaptureError(f"{path} holds no manifest (a mapping with a kind)")
    return document


@click.command("capture")
@click.argument("decision", metavar="DECISION_ID|FILE")
@click.option(
    "--log",
    "log_path",
    default=None,
    metavar="FILE",
    help="The decision log (JSON lines, as `admit serve --decision-log` writes; - for stdin) "
    "to find DECISION_ID in.",
)
@click.option(
    "--resource",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The manifest the decision judged, for a log line that holds no request.",
)
def capture_command(decision: str, log_path: str | None, resource: Path | None) -> int:
    """Print a decision as a test case for `admit test`, so a denial seen in production
    becomes a regression test.

    DECISION_ID is a request uid or a decision-log decision_id (or its first 8+ characters) in
    the decision log given by --log; FILE holds decisions itself: one JSON document (a decision
    the console shows at /api/decisions/ID) or JSON lines (a decision log), each of which
    becomes a case.

    \b
    Examples:
      admit capture 3f2a9c1e --log decisions.jsonl > my-bundle/tests/captured_test.yaml
      admit capture 3f2a9c1e --log decisions.jsonl --resource pod.yaml
      admit test my-bundle/

    The case expects each rule that ran to conclude as it did (with its messages), and the
    decision's verdict. A decision-log line holds the request in its `input` unless the server
    ran with --no-decision-log-input (or a mask erased it); otherwise give the manifest with
    --resource.

    Exit codes: 0 printed, 2 no such decision, unreadable input or no object to replay.
    """
    if Path(decision).is_file() or decision == "-":
        decisions = _decisions(_read(decision), decision)
        if not decisions:
            raise CaptureError(f"{decision} holds no decision")
    elif log_path is None:
        raise click.UsageError(
            f"{decision!r} is not a file; to find it by uid, name the decision log with --log"
        )
    else:
        decisions = [_find(_decisions(_read(log_path), log_path), decision, log_path)]
    given = _manifest(resource) if resource is not None else None
    if given is not None and len(decisions) > 1:
        raise click.UsageError("--resource stands for one decision's object; capture one at a time")
    click.echo(capture(decisions, given), nl=False)
    return 0
