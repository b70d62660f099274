"""Declaring rules: `@validate`, `@mutate`, `@decision` build a frozen `Rule`, register it into
the active registry (the loader's, while it imports a bundle) and return the function unchanged,
so a rule stays a plain function that tests can call directly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from admit.core.errors import DefinitionError
from admit.core.match import OPERATIONS, KindPattern, Match
from admit.core.outcome import (
    ACTIONS,
    EXISTING,
    ON_ERROR,
    SEVERITIES,
    Action,
    Existing,
    OnError,
    Severity,
)

RuleType = Literal["validate", "mutate", "decision"]
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_OPERATIONS = frozenset({"CREATE", "UPDATE"})
RULES_ATTRIBUTE = "__admit_rules__"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Param:
    """A keyword-only parameter of a rule: its default and its annotation (if any)."""

    name: str
    default: Any
    annotation: Any


@dataclass(frozen=True, slots=True)
class Rule:
    """A declared rule. `policy`, `arguments`, `action` and `on_error` are final once the loader
    has applied `admit.yaml`."""

    func: Callable[..., Any]
    type: RuleType
    name: str
    match: Match | None
    action: Action = "enforce"
    on_error: OnError = "deny"
    path: str | None = None
    params: tuple[Param, ...] = ()
    reads: tuple[KindPattern, ...] = ()
    arguments: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    policy: str = ""
    file: str = ""
    line: int = 0
    existing: Existing = "warn"  # on UPDATE, a violation the old object had: a warning
    # What policy reports say of the rule's failures (Kyverno keeps these in annotations).
    severity: Severity | None = None
    category: str = ""
    with_data: bool = False  # a decision called as fn(input, data): it reads the bundle's data

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.name}" if self.policy else self.name

    @property
    def description(self) -> str:
        """The first line of the rule's docstring."""
        doc = inspect.getdoc(self.func) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def configured(self, **changes: Any) -> Rule:
        return replace(self, **changes)

    def __call__(self, subject: Any) -> Any:
        return self.func(subject, **self.arguments)


_active: ContextVar[list[Rule] | None] = ContextVar("admit_registry", default=None)


@contextmanager
def collecting() -> Iterator[list[Rule]]:
    """Collect the rules declared while the block runs (the loader imports a bundle inside)."""
    registry: list[Rule] = []
    token = _active.set(registry)
    try:
        yield registry
    finally:
        _active.reset(token)


def rules_of(func: Callable[..., Any]) -> tuple[Rule, ...]:
    """The rules a function was declared as (a function may carry several decorators)."""
    return tuple(getattr(func, RULES_ATTRIBUTE, ()))


def _params_of(func: Callable[..., Any], *, data: bool = False) -> tuple[Param, ...]:
    """The rule's keyword-only parameters; with `data`, a second positional parameter (the
    bundle's data) is allowed."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{func!r} is not a function a rule can be made of") from exc
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    wrong = not 1 <= len(positional) <= (2 if data else 1) or any(
        p.default is not inspect.Parameter.empty for p in positional
    )
    if wrong and data:
        raise DefinitionError(
            f"decision {func.__name__}() must take the input, optionally the bundle's data "
            "(`def allow(input, data)`), and only keyword-only parameters after `*`"
        )
    if wrong:
        raise DefinitionError(
            f"rule {func.__name__}() must take exactly one positional argument (the request, "
            "object or input) and only keyword-only parameters after `*`"
        )
    params = []
    for p in signature.parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            if p.default is inspect.Parameter.empty:
                raise DefinitionError(
                    f"parameter {p.name!r} of rule {func.__name__}() needs a default value"
                )
            annotation = None if p.annotation is inspect.Parameter.empty else p.annotation
            params.append(Param(p.name, p.default, annotation))
        elif p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DefinitionError(f"rule {func.__name__}() may not take *args or **kwargs")
    return tuple(params)


def _register(func: F, rule: Rule) -> F:
    code = getattr(func, "__code__", None)
    rule = replace(
        rule,
        file=code.co_filename if code else "",
        line=code.co_firstlineno if code else 0,
        arguments=MappingProxyType({p.name: p.default for p in rule.params}),
    )
    setattr(func, RULES_ATTRIBUTE, (*rules_of(func), rule))
    registry = _active.get()
    if registry is not None:
        registry.append(rule)
    return func


def _checked(action: str, on_error: str) -> tuple[Action, OnError]:
    if action not in ACTIONS:
        raise DefinitionError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if on_error not in ON_ERROR:
        raise DefinitionError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    return action, on_error


def _match(
    kinds: Sequence[str], operations: str | Sequence[str] | None, match: Match | None
) -> Match:
    if match is None:
        match = Match.of(kinds or "*", operations=operations)
    elif kinds or operations is not None:
        raise DefinitionError(
            "give kinds and operations either positionally or in match=, not both"
        )
    return match.with_operations(DEFAULT_OPERATIONS)


def _reads(reads: Sequence[str]) -> tuple[KindPattern, ...]:
    if isinstance(reads, str):
        reads = (reads,)
    return tuple(KindPattern.parse(kind) for kind in reads)


def validate(
    *kinds: str,
    operations: str | Sequence[str] | None = None,
    match: Match | None = None,
    action: Action = "enforce",
    on_error: OnError = "deny",
    reads: Sequence[str] = (),
    name: str | None = None,
    existing: Existing = "warn",
    severity: Severity | None = None,
    category: str = "",
) -> Callable[[F], F]:
    """Declare a validating rule: `fn(request, *, params...)` returns or yields violations.

    Kinds are `"Pod"`, `"apps/v1/Deployment"`, `"*"`...; operations default to CREATE and UPDATE.
    A rule for `Pod` also covers the pod templates of workload kinds. `reads` names the kinds
    the rule looks up in `request.cluster` (the server caches exactly those). On an UPDATE, a
    violation the old object already had is a warning, not a denial, unless `existing="deny"`.
    `severity` (critical, high, medium, low, info) and `category` are what policy reports say
    of the rule's failures.
    """
    resolved = _match(kinds, operations, match)
    act, err = _checked(action, on_error)
    if existing not in EXISTING:
        raise DefinitionError(f"existing must be one of {', '.join(EXISTING)}, got {existing!r}")
    if severity is not None and severity not in SEVERITIES:
        raise DefinitionError(
            f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}"
        )
    if not isinstance(category, str):
        raise DefinitionError(f"category must be a string, got {category!r}")
    read_kinds = _reads(reads)

    def declare(func: F) -> F:
        return _register(
            func,
            Rule(
                func,
                "validate",
                name or func.__name__,
                resolved,
                act,
                err,
                params=_params_of(func),
                reads=read_kinds,
                existing=existing,
                severity=severity,
                category=category,
            ),
        )

    return declare


def mutate(
    *kinds: str,
    operations: str | Sequence[str] | None = None,
    match: Match | None = None,
    on_error: OnError = "deny",
    name: str | None = None,
) -> Callable[[F], F]:
    """Declare a mutating rule: `fn(obj, *, params...)` edits `obj`, a private copy of the object;
    the engine computes the RFC 6902 patch. Mutations run before validations."""
    resolved = _match(kinds, operations, match)
    _, err = _checked("enforce", on_error)

    def declare(func: F) -> F:
        return _register(
            func,
            Rule(
                func,
                "mutate",
                name or func.__name__,
                resolved,
                "enforce",
                err,
                params=_params_of(func),
            ),
        )

    return declare


def decision(path: str, *, name: str | None = None) -> Callable[[F], F]:
    """Declare a decision served at `POST /v1/data/<path>` (`path` as `httpapi/authz/allow` or
    `data.httpapi.authz.allow`): `fn(input, *, params...)` returns any JSON value, like an OPA
    rule; `fn(input, data, *, params...)` also reads the bundle's data, as Rego reads `data.`."""
    clean = path.strip().strip("/")
    if clean.startswith("data."):
        clean = clean[len("data.") :].replace(".", "/")
    if not clean or any(not part for part in clean.split("/")):
        raise DefinitionError(f"decision path {path!r} must be like 'httpapi/authz/allow'")

    def declare(func: F) -> F:
        params = _params_of(func, data=True)
        positional = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        rule = Rule(func, "decision", name or func.__name__, None, path=clean, params=params,
                    with_data=len(positional) == 2)  # fmt: skip
        return _register(func, rule)

    return declare


__all__ = [
    "OPERATIONS",
    "Param",
    "Rule",
    "collecting",
    "decision",
    "mutate",
    "rules_of",
    "validate",
]
