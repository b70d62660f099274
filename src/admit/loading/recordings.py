"""Reading recorded admissions for `admit replay`: each request kube-apiserver sent, the endpoint
it went to, and the answer it got, if the recording kept it.

Two sources: the decision log of `admit serve --decision-log-input` (JSON lines in OPA's event
format; each line's `input` is the AdmissionReview received, with `endpoint`, `allowed` and rule
results beside it; older lines held the bare `request`), and AdmissionReviews as files
(a directory is searched for `*.json`): a plain AdmissionReview (with its `response`, if any),
or a capture record holding one under `body` with the webhook's answer under `response` (the
format of the recorded kube-apiserver traffic). What cannot be used is an `InputError` located
at its file and line; reading goes on past it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from admit.core.errors import InputError
from admit.core.replay import Verdict
from admit.loading.files import STDIN, STDIN_LABEL, read_input


class Recording(NamedTuple):
    """One recorded admission: where it was read, the AdmissionRequest, the phase it was
    judged in (`validate` or `mutate`) and the recorded answer (None if not kept)."""

    where: str
    request: dict[str, Any]
    phase: str
    before: Verdict | None


def _phase(endpoint: str) -> str:
    return "mutate" if endpoint.startswith("/mutate") else "validate"


def _from_log_line(where: str, line: Mapping[str, Any]) -> Recording:
    review = line.get("input")
    request = review.get("request") if isinstance(review, dict) else line.get("request")
    if not isinstance(request, dict):
        raise InputError(
            "this decision-log line holds no request: run `admit serve` with "
            "--decision-log-input to record them"
        )
    denying = [
        str(r.get("policy"))
        for r in line.get("results") or ()
        if isinstance(r, dict)
        and r.get("action") == "enforce"
        and r.get("result") in ("fail", "error")
    ]
    answer = line.get("result")
    response = answer.get("response") if isinstance(answer, dict) else None
    warnings = (response or {}).get("warnings") if isinstance(response, dict) else None
    before = Verdict(
        bool(line.get("allowed")),
        tuple(str(w) for w in (warnings or line.get("warnings") or ())),
        tuple(dict.fromkeys(denying)) if not line.get("allowed") else (),
    )
    return Recording(where, request, _phase(str(line.get("endpoint") or "")), before)


def _from_review(where: str, document: Mapping[str, Any]) -> Recording:
    """A plain AdmissionReview, or a capture record holding one under `body`."""
    review = document.get("body") if "body" in document else document
    if not isinstance(review, dict) or not isinstance(review.get("request"), dict):
        raise InputError("not an AdmissionReview with a request", path=where)
    answer = review.get("response")
    endpoint = "/validate"
    if "body" in document:  # a capture record: the answer and the path it was sent to
        http = document.get("http") or {}
        endpoint = str(http.get("path") or endpoint)
        answer = (document.get("response") or {}).get("body", {}).get("response")
    before = None
    if isinstance(answer, dict) and "allowed" in answer:
        before = Verdict(bool(answer["allowed"]), tuple(answer.get("warnings") or ()))
    return Recording(where, review["request"], _phase(endpoint), before)


def _json_files(root: Path) -> list[Path]:
    return sorted(
        Path(dirpath) / name
        for dirpath, _, names in os.walk(root)
        for name in names
        if name.endswith(".json") and not name.startswith(".")
    )


def _lines(label: str, text: str) -> Iterator[Recording | InputError]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{label}:{number}"
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputError(f"not JSON: {exc.msg}", path=label, line=number)
            continue
        try:
            if isinstance(document, dict) and (
                document.get("kind") == "AdmissionReview" or "body" in document
            ):
                yield _from_review(where, document)
            else:
                yield _from_log_line(where, document if isinstance(document, dict) else {})
        except InputError as exc:
            yield InputError(str(exc).removeprefix(f"{where}: "), path=label, line=number)


def read_recordings(paths: Iterable[str]) -> Iterator[Recording | InputError]:
    """Every recorded admission in `paths` (decision logs, AdmissionReview files, directories
    of them, `-` for stdin), in order."""
    for path in paths:
        if path != STDIN and Path(path).is_dir():
            for file in _json_files(Path(path)):
                yield from read_recordings([str(file)])
            continue
        label = STDIN_LABEL if path == STDIN else path
        text = read_input(path)
        if isinstance(text, InputError):
            yield text
            continue
        if "\n" not in text.strip():  # one line: a decision log's, or a compact review
            yield from _lines(label, text)
            continue
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            yield from _lines(label, text)  # a decision log: one JSON document per line
            continue
        if isinstance(whole, dict):
            review = whole.get("kind") == "AdmissionReview" or "body" in whole
            try:
                yield _from_review(label, whole) if review else _from_log_line(label, whole)
            except InputError as exc:
                yield exc if exc.path else InputError(str(exc), path=label)
        else:
            yield InputError("neither an AdmissionReview nor a decision log", path=label)
