"""`admit replay`: which real, recorded admissions a bundle change would flip, before it ships.

Each recorded request (`admit.loading.recordings`) is judged again with NEW_BUNDLE, offline,
through the same `evaluate` as the webhook, and compared with the answer it got (or, with
--baseline, with what another bundle decides): `admit.core.replay` names each difference and
the policy behind it. The report groups the changes by kind and policy, with counts; exit 1
when anything would newly be denied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from admit.cli.options import BUNDLE, BUNDLE_HELP, overrides_options
from admit.core.engine import PolicySet, evaluate
from admit.core.errors import InputError
from admit.core.replay import CHANGES, Change, ChangeKind, changes, verdict
from admit.core.review import Request
from admit.loading.loader import load_bundle
from admit.loading.overrides import Overrides
from admit.loading.recordings import Recording, read_recordings

_TITLES: dict[ChangeKind, str] = {
    "denied": "Newly denied",
    "allowed": "Newly allowed",
    "warned": "New warnings",
}


@dataclass
class Replay:
    """What replaying found: each changed recording with its changes, and the counts."""

    replayed: int = 0
    changed: list[tuple[Recording, Request, list[Change]]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    def by_policy(self, kind: ChangeKind) -> dict[str, list[tuple[Recording, Request, Change]]]:
        grouped: dict[str, list[tuple[Recording, Request, Change]]] = {}
        for recording, request, found in self.changed:
            for change in found:
                if change.kind == kind:
                    grouped.setdefault(change.policy, []).append((recording, request, change))
        return dict(sorted(grouped.items()))

    def count(self, kind: ChangeKind) -> int:
        return sum(any(c.kind == kind for c in found) for _, _, found in self.changed)

    @property
    def exit_code(self) -> int:
        if self.count("denied"):
            return 1
        return InputError.exit_code if self.errors else 0


def replay(
    policy_set: PolicySet,
    recordings: list[Recording | InputError],
    baseline: PolicySet | None = None,
) -> Replay:
    """Judge each recording with `policy_set` and compare (with `baseline`'s decision if given,
    else with the recorded answer)."""
    found = Replay()
    for item in recordings:
        if isinstance(item, InputError):
            found.errors.append(item)
            continue
        request = Request(item.request)
        phase: Any = item.phase
        before = item.before
        if baseline is None and before is None:
            why = "the recording holds no answer to compare with: give --baseline BUNDLE"
            found.errors.append(InputError(why, path=item.where))
            continue
        try:
            if baseline is not None:
                before = verdict(evaluate(baseline, request, phase=phase))
            after = evaluate(policy_set, request, phase=phase)
        except InputError as exc:  # a recorded field admit checks when it reads it (labels)
            found.errors.append(InputError(str(exc), path=item.where))
            continue
        assert before is not None
        found.replayed += 1
        diff = changes(before, after, policy_set.message_format)
        if diff:
            found.changed.append((item, request, diff))
    return found


def _describe(request: Request) -> str:
    group, version, kind = request.kind
    api = f"{group}/{version}" if group else version
    sub = f"/{request.subresource}" if request.subresource else ""
    where = f"{request.namespace}/{request.name}" if request.namespace else request.name
    user = request.user.username or "no user"
    return f"{request.operation} {api} {kind}{sub} {where} ({user})"


def to_text(found: Replay, bundle: str) -> str:
    lines: list[str] = []
    for kind in CHANGES:
        grouped = found.by_policy(kind)
        count = found.count(kind)
        if not count:
            lines.append(f"{_TITLES[kind]}: none")
            continue
        per_policy = ", ".join(f"{p} {len(items)}" for p, items in grouped.items())
        noun = "decision" if count == 1 else "decisions"
        lines.append(f"{_TITLES[kind]}: {count} {noun} (by policy: {per_policy})")
        for policy, items in grouped.items():
            lines.append(f"  {policy} ({len(items)})")
            for recording, request, change in items:
                lines.append(f"    {recording.where}  {_describe(request)}")
                lines += [f"        {message}" for message in change.messages]
    unchanged = found.replayed - len(found.changed)
    lines.append(
        f"{found.replayed} recorded admissions judged again with {bundle}: "
        f"{found.count('denied')} newly denied, {found.count('allowed')} newly allowed, "
        f"{found.count('warned')} with new warnings, {unchanged} unchanged"
    )
    return "\n".join(lines)


def to_json(found: Replay) -> dict[str, Any]:
    return {
        "changes": [
            {
                "where": recording.where,
                "uid": request.uid,
                "operation": request.operation,
                "kind": "/".join(p for p in request.kind if p),
                "namespace": request.namespace,
                "name": request.name,
                "user": request.user.username,
                "changes": [
                    {"change": c.kind, "policy": c.policy, "messages": list(c.messages)}
                    for c in found_changes
                ],
            }
            for recording, request, found_changes in found.changed
        ],
        "summary": {
            "replayed": found.replayed,
            **{kind: found.count(kind) for kind in CHANGES},
            "unchanged": found.replayed - len(found.changed),
        },
        "errors": [str(e) for e in found.errors],
    }


_WRITERS: dict[str, Callable[[Replay, str], str]] = {
    "text": to_text,
    "json": lambda found, _: json.dumps(to_json(found), indent=2),
}


@click.command(epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.option(
    "--from",
    "sources",
    multiple=True,
    required=True,
    metavar="DECISIONS",
    help="A decision log of `admit serve --decision-log-input` (JSON lines), an "
    "AdmissionReview file, or a directory of them; - for stdin. Repeatable.",
)
@click.option(
    "--baseline",
    type=BUNDLE,
    default=None,
    help="Compare with what this bundle decides rather than with the recorded answers "
    "(needed for AdmissionReviews recorded without one).",
)
@overrides_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(sorted(_WRITERS)),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
def replay_command(
    bundle: Path,
    sources: tuple[str, ...],
    baseline: Path | None,
    config_files: tuple[str, ...],
    assignments: tuple[str, ...],
    output: str,
) -> int:
    """Judge recorded admissions again with BUNDLE and show every answer that would change.

    Each request recorded in DECISIONS is evaluated with BUNDLE, offline, exactly as the
    webhook would, and compared with the answer it got: requests that would newly be denied,
    newly be allowed, or get warnings they did not get, grouped by the policy responsible,
    with counts. Record the traffic with `admit serve --decision-log-input` (Secret data
    is redacted), or use AdmissionReviews saved from kube-apiserver.

    \b
    Examples:
      admit serve policies/ --decision-log decisions.log --decision-log-input ...
      admit replay policies-next/ --from decisions.log
      admit replay policies/ --set trusted-images.repo_prefix=ghcr.io/acme --from decisions.log
      admit replay policies-next/ --from reviews/ --baseline policies/ -o json

    Exit codes: 0 nothing would newly be denied, 1 something would, 2 unusable recordings
    (each is named; the others are still replayed), 3 a bundle failed to load.
    """
    overrides = Overrides.read(config_files, assignments)
    policy_set = load_bundle(bundle, overrides=overrides)
    base = load_bundle(baseline) if baseline is not None else None
    found = replay(policy_set, list(read_recordings(sources)), base)
    for error in found.errors:
        click.echo(f"admit: {error}", err=True)
    click.echo(_WRITERS[output](found, str(bundle)))
    return found.exit_code
