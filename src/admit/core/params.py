"""Checking parameter overrides (from `admit.yaml`) against a rule's keyword-only signature.

Types come from the annotation when there is one, otherwise from the default's type. Only the
shapes JSON and YAML can express are understood: str, int, float, bool, None, lists, tuples,
dicts, unions, Literal and Any. `Annotated[T, check, ...]` adds checks a type cannot say (a
version string's form, the fields of an exemption): once the value fits `T`, each callable
`check(value)` in the metadata returns a problem (a message) or None, so a bad value is a load
error located in admit.yaml rather than a failure on the first request.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from admit.core.rules import Param, Rule


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


Check = Callable[[Any], "str | None"]


def _checks(tp: Any) -> tuple[Any, tuple[Check, ...]]:
    """(the type, the checks of its `Annotated` metadata)."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *metadata = typing.get_args(tp)
        return base, tuple(m for m in metadata if callable(m))
    return tp, ()


def _resolve(rule: Rule, param: Param) -> Any:
    annotation = param.annotation
    if isinstance(annotation, str):  # from __future__ import annotations
        try:
            hints = typing.get_type_hints(rule.func, include_extras=True)
        except Exception:  # unresolvable hints: fall back to the default's type
            hints = {}
        annotation = hints.get(param.name)
    if annotation is None:
        return Any if param.default is None else type(param.default)
    return annotation


def conforms(value: Any, tp: Any) -> bool:
    """Whether a JSON/YAML value fits the type `tp`."""
    if tp is Any or tp is object:
        return True
    tp, _ = _checks(tp)
    if tp is None or tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(tp)
    if origin is None:
        return isinstance(value, tp) if isinstance(tp, type) else True
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, set, frozenset, tuple) or origin is typing.Sequence:
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(
                conforms(v, a) for v, a in zip(value, args, strict=True)
            )
        item = args[0] if args else Any
        return all(conforms(v, item) for v in value)
    if origin in (dict, Mapping) or origin is typing.Mapping:
        if not isinstance(value, dict):
            return False
        key, item = args if len(args) == 2 else (Any, Any)
        return all(conforms(k, key) and conforms(v, item) for k, v in value.items())
    return isinstance(value, origin) if isinstance(origin, type) else True


def _coerce(value: Any, tp: Any) -> Any:
    """Tuples in signatures receive tuples, frozensets frozensets (YAML only has lists)."""
    tp, _ = _checks(tp)
    origin = typing.get_origin(tp) or tp
    if isinstance(value, list) and origin in (tuple, frozenset, set):
        return origin(value)
    return value


def check_arguments(
    rule: Rule, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The rule's arguments with `overrides` applied, and each problem as (parameter, message)."""
    params = {p.name: p for p in rule.params}
    arguments = dict(rule.arguments)
    problems = []
    for name, value in overrides.items():
        param = params.get(name)
        if param is None:
            known = ", ".join(params) or "none"
            problems.append(
                (name, f"rule {rule.key} has no parameter {name!r} (its parameters: {known})")
            )
            continue
        tp = _resolve(rule, param)
        if not conforms(value, tp):
            problems.append(
                (
                    name,
                    f"parameter {name!r} of rule {rule.key} expects {_type_name(tp)}, "
                    f"got {type(value).__name__} {value!r}",
                )
            )
            continue
        found = [problem for check in _checks(tp)[1] if (problem := check(value))]
        if found:
            problems.extend(
                (name, f"parameter {name!r} of rule {rule.key}: {problem}") for problem in found
            )
            continue
        arguments[name] = _coerce(value, tp)
    return arguments, problems


def accepts(rule: Rule, name: str, value: Any) -> bool:
    """Whether the rule has a parameter `name` that `value` fits."""
    for param in rule.params:
        if param.name == name:
            return conforms(value, _resolve(rule, param))
    return False
