"""Capturing a decision as a test case: the `*_test.yaml` case (`admit.testing.cases`) that
pins what the rules concluded of a request, so a denial seen in production becomes a regression
test in one step. The console's "Save as test case" and `admit capture` both call `capture`.

A decision comes in one of two shapes, both JSON:
- the console's (`admit.server.feed.expand`): the request's identity, `results` with
  `violations` as [message, path, level], the whole `patch`, and `request` (the AdmissionRequest
  with `object`/`oldObject`, Secrets redacted);
- a decision-log line (`admit.server.decision_log`, OPA's event format): the identity,
  `results` with `messages`, `patch` as a count, and the request in `input` (the whole
  AdmissionReview, redacted) unless the server was told not to log it (or a mask or the size
  cap erased it; a `request` AdmissionRequest or `object`/`oldObject` are read too); without
  it the resource must be given.

The case expects each rule that ran (skipped ones are left out) to conclude as it did, with its
messages (and paths, when known), and the decision's `allowed` and patch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from admit.core.errors import InputError

CUT = 1024  # a message this long in a console decision may have been cut (admit.server.feed)
REDACTED = "<redacted>"


class CaptureError(InputError):
    """A decision that cannot become a test case (usage-level: exit code 2)."""

    code = "cannot_capture"


def _request(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    request = entry.get("request")
    if isinstance(request, Mapping):
        return request
    review = entry.get("input")
    if isinstance(review, Mapping) and isinstance(review.get("request"), Mapping):
        return review["request"]  # type: ignore[no-any-return]
    return {k: entry[k] for k in ("object", "oldObject") if k in entry}


def _resource(entry: Mapping[str, Any], given: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(the case's resource, its old_object or None)."""
    request = _request(entry)
    new, old = request.get("object"), request.get("oldObject")
    operation = entry.get("operation") or "CREATE"
    if given is not None:
        return given, None
    if operation == "DELETE":
        new, old = old, None  # a DELETE's case names the object being deleted
    if not isinstance(new, Mapping):
        raise CaptureError(
            f"decision {_short(entry)} holds no request object to replay (the decision log "
            "holds it in `input` unless the server ran with --no-decision-log-input, or a mask "
            "or the size cap erased it); give the manifest it judged with --resource FILE, or "
            "save the case from the console's decision page"
        )
    if not new.get("kind") or not new.get("apiVersion"):
        raise CaptureError(f"decision {_short(entry)}: the request's object has no kind")
    return new, old if operation == "UPDATE" and isinstance(old, Mapping) else None


def _short(entry: Mapping[str, Any]) -> str:
    return str(entry.get("uid") or entry.get("id") or "?")


def _messages(result: Mapping[str, Any]) -> tuple[list[str] | None, list[Any] | None, bool]:
    """(the rule's messages, their paths (None when unknown), whether they are whole)."""
    if "violations" in result:
        found = result.get("violations") or []
        messages = [str(v[0]) for v in found]
        paths = [v[1] for v in found]
        whole = not result.get("violations_omitted") and all(len(m) < CUT for m in messages)
        return messages, paths, whole
    return [str(m) for m in result.get("messages") or []], None, True


def _expectation(result: Mapping[str, Any]) -> Any:
    outcome = result.get("result")
    if outcome == "pass":
        return "pass"
    expected: dict[str, Any] = {"result": outcome}
    if outcome == "error":
        error = str(result.get("error") or "")
        if error:
            expected["contains"] = error.splitlines()[0][:200]
        return expected
    messages, paths, whole = _messages(result)
    if whole:
        expected["messages"] = messages
        if paths is not None:
            expected["paths"] = paths
    elif messages:
        expected["contains"] = messages[0][:200]
    return expected


def case_of(entry: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The test case (as `admit test` reads it) pinning the decision `entry`; `resource` stands
    for the request's object when the decision does not hold it."""
    new, old = _resource(entry, resource)
    operation = str(entry.get("operation") or "CREATE")
    meta = new.get("metadata") if isinstance(new.get("metadata"), Mapping) else {}
    name = meta.get("name") or entry.get("name") or meta.get("generateName") or "(no name)"
    namespace = entry.get("namespace") or meta.get("namespace") or ""
    verdict = "allowed" if entry.get("allowed") else "denied"
    where = f"{namespace}/{name}" if namespace else name
    case: dict[str, Any] = {
        "name": f"{new.get('kind')} {where} is {verdict} on {operation} ({_short(entry)[:8]})",
        "resource": dict(new),
        "operation": operation,
    }
    if old is not None:
        case["old_object"] = dict(old)
    if namespace:
        case["namespace"] = namespace
    if entry.get("user"):
        case["user"] = entry["user"]
    groups = [g for g in entry.get("groups") or () if g != "system:authenticated"]
    if groups:
        case["groups"] = groups
    expect = {
        f"{r['policy']}/{r['rule']}" if r.get("policy") else str(r["rule"]): _expectation(r)
        for r in entry.get("results") or ()
        if r.get("result") != "skip"
    }
    if expect:
        case["expect"] = expect
    case["allowed"] = bool(entry.get("allowed"))
    patch = entry.get("patch")
    if isinstance(patch, list) and REDACTED not in repr(patch):
        case["patch"] = patch
    elif patch == 0:
        case["patch"] = []
    return case


def _notes(entry: Mapping[str, Any], case: Mapping[str, Any]) -> list[str]:
    notes = []
    if REDACTED in repr(case.get("resource")) or REDACTED in repr(entry.get("patch")):
        notes.append(
            "Secret values were redacted in the console: the case holds <redacted> where they "
            "were, and expects no patch"
        )
    if _request(entry).get("subResource"):
        notes.append(
            f"the request was for the subresource {_request(entry)['subResource']!r}; the case "
            "sends the object itself"
        )
    if entry.get("request_omitted"):
        notes.append(f"the request was too large for the console ({entry['request_omitted']})")
    return notes


def capture(
    entries: Iterable[Mapping[str, Any]], resource: Mapping[str, Any] | None = None
) -> str:
    """A `*_test.yaml` file holding one case per decision, with a comment saying where each
    came from and how to use the file."""
    cases, lines = [], []
    for entry in entries:
        case = case_of(entry, resource)
        cases.append(case)
        when = entry.get("time")
        if isinstance(when, (int, float)):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
        elif isinstance(entry.get("timestamp"), str):  # a decision-log line: RFC 3339, ns
            stamp = entry["timestamp"][:19] + "Z"
        else:
            stamp = "an unknown time"
        bundle = str(entry.get("bundle") or "?")[:12]
        lines.append(f"# Captured from decision {_short(entry)} (bundle {bundle}, {stamp}).")
        lines += [f"# Note: {note}." for note in _notes(entry, case)]
    if not cases:
        raise CaptureError("no decision to capture")
    lines.append(
        "# Save it in the bundle as a file named *_test.yaml and run `admit test BUNDLE`."
    )
    body = yaml.safe_dump(
        {"cases": cases}, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    return "\n".join(lines) + "\n" + body
