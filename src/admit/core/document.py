"""The data document, as OPA serves it: the bundle's data and its `@admit.decision` rules in one
tree, read by path. The Data API, `admit eval` and `admit.query` read it here.

A path names a decision (evaluated), a part of a decision's value, bundle data, or a subtree
that holds both (each decision below it evaluated). A decision whose caller gave no input sees
`MISSING`, which reads as missing all the way down, so a rule never fails for want of input.
Pure: the caller times requests and logs decisions; a decision that raises is an
`EvaluationError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from time import perf_counter_ns
from types import GeneratorType
from typing import Any, NamedTuple

from admit.core.engine import EvaluationError, PolicySet, error_location
from admit.core.errors import InputError
from admit.core.rules import Rule
from admit.core.views import MISSING, View

UNDEFINED: Any = MISSING  # the input of a query that gave none (OPA: `input` is undefined)


def path_segments(path: str) -> tuple[str, ...]:
    """The segments of a document path in any form OPA users write it: `data.httpapi.authz`
    (a query), `httpapi/authz` or `/httpapi/authz` (the Data API's URL); `data`, `/` and ``
    name the whole document. Raises `InputError` for an empty segment (`a//b`, `data.a..b`)."""
    text = path.strip()
    if text == "data":
        return ()
    if text.startswith("data."):
        parts = text[len("data.") :].split(".")
    else:
        text = text.strip("/")
        parts = text.split("/") if text else []
    if any(not part for part in parts):
        raise InputError(f"path {path!r} has an empty segment; write it like data.a.b or a/b")
    return tuple(parts)


class Evaluated(NamedTuple):
    """A decision rule run to answer a query: which, at what path, how long, and its error."""

    policy: str
    rule: str
    path: str
    duration_ns: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a path holds: `defined` False is OPA's undefined document (answered `{}`)."""

    defined: bool
    value: Any = None
    evaluated: tuple[Evaluated, ...] = ()


def read(policy_set: PolicySet, segments: tuple[str, ...], input: Any = UNDEFINED) -> Answer:
    """The document at `segments`, decisions evaluated with `input` (UNDEFINED: none given).

    Raises `EvaluationError` when a decision raises (its `evaluated` lists what ran)."""
    ran: list[Evaluated] = []
    try:
        return _read(policy_set, segments, input, ran)
    except EvaluationError as exc:
        exc.evaluated = tuple(ran)
        raise


def _read(
    policy_set: PolicySet, segments: tuple[str, ...], input: Any, ran: list[Evaluated]
) -> Answer:
    decisions = policy_set.decisions
    path = "/".join(segments)
    rule = decisions.get(path)
    if rule is not None:  # the common query: one decision, by its own path
        return Answer(True, _decide(rule, input, policy_set, ran), tuple(ran))
    for cut in range(len(segments) - 1, 0, -1):  # inside a decision's value
        rule = decisions.get("/".join(segments[:cut]))
        if rule is not None:
            value = _decide(rule, input, policy_set, ran)
            found, value = _walk(value, segments[cut:])
            return Answer(found, value if found else None, tuple(ran))
    prefix = f"{path}/" if path else ""
    below = [(p[len(prefix) :], r) for p, r in decisions.items() if p.startswith(prefix)]
    found, data = _walk(policy_set.data.raw, segments)
    if not below:
        return Answer(found, data if found else None)
    document: dict[str, Any] = dict(data) if found and isinstance(data, Mapping) else {}
    for relative, r in below:
        *parents, leaf = relative.split("/")
        node = document
        for part in parents:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}  # never the bundle's own
            node[part] = child
            node = child
        node[leaf] = _decide(r, input, policy_set, ran)
    return Answer(True, document, tuple(ran))


def query(policy_set: PolicySet, path: str, input: Any = UNDEFINED) -> tuple[bool, Any]:
    """(defined, value) of the document at `path` (any form `path_segments` reads); an unknown
    path is undefined, like OPA's `{}` answer. Raises `EvaluationError` if a decision raises."""
    answer = read(policy_set, path_segments(path), input)
    return answer.defined, answer.value


def _walk(value: Any, segments: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, the value at `segments` below `value`): object keys, or array indexes."""
    for segment in segments:
        if isinstance(value, Mapping):
            if segment not in value:
                return False, None
            value = value[segment]
        elif isinstance(value, (list, tuple)) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return False, None
    return True, value


def _decide(rule: Rule, input: Any, policy_set: PolicySet, ran: list[Evaluated]) -> Any:
    """Run one decision; its value as plain JSON types."""
    if input is UNDEFINED or input is None:
        subject = MISSING
    else:
        subject = View(input) if isinstance(input, dict) else input
    start = perf_counter_ns()
    try:
        if rule.with_data:
            value = rule.func(subject, policy_set.data, **rule.arguments)
        else:
            value = rule.func(subject, **rule.arguments)
        if isinstance(value, GeneratorType):  # its body runs now, within the error handling
            value = list(value)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a timeout is the caller's
        message = f"decision {rule.path} ({rule.key}) raised {type(exc).__name__}: {exc}"
        ran.append(Evaluated(rule.policy, rule.name, rule.path or "", perf_counter_ns() - start,
                             message))  # fmt: skip
        raise EvaluationError(message, rule=rule.key, location=error_location(exc, rule)) from exc
    ran.append(Evaluated(rule.policy, rule.name, rule.path or "", perf_counter_ns() - start))
    return _plain(value)


def _plain(value: Any) -> Any:
    """A decision's value as JSON types: a view's data; what a generator yields, a tuple or a
    set (like Rego's partial set rules, `mask contains ...`) as a list."""
    if isinstance(value, View):
        return value.raw
    if isinstance(value, GeneratorType | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    return value
