"""What the console shows about a policy set: its modules, rules, matches, parameters (default,
override, value in effect), actions and highlighted source. Plain JSON-ready dicts; the
console's only view of rules."""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson

from admit.console.highlight import highlight
from admit.core.engine import PolicySet
from admit.core.match import LabelSelector, Match
from admit.core.rules import Rule


def _json_safe(value: Any) -> Any:
    """The value as JSON would show it, or its repr when JSON cannot."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return repr(value)


def _selector(selector: LabelSelector | None) -> dict[str, Any] | None:
    if selector is None:
        return None
    return {
        "matchLabels": dict(selector.match_labels),
        "matchExpressions": [
            {"key": k, "operator": op, "values": sorted(values)}
            for k, op, values in selector.match_expressions
        ],
    }


_LISTS = ("namespaces", "exclude_namespaces", "users", "groups", "exclude_users", "exclude_groups")


def _match(match: Match | None) -> dict[str, Any] | None:
    if match is None:
        return None
    described: dict[str, Any] = {
        "kinds": [str(k) for k in match.kinds],
        "operations": sorted(match.operations),
    }
    for name in _LISTS:
        if getattr(match, name):
            described[name] = list(getattr(match, name))
    for name in ("namespace_selector", "object_selector"):
        if getattr(match, name) is not None:
            described[name] = _selector(getattr(match, name))
    return described


def _annotation(annotation: Any) -> str | None:
    if annotation is None:
        return None
    if typing.get_origin(annotation) is typing.Annotated:  # the type, not its load-time checks
        annotation = typing.get_args(annotation)[0]
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)


def describe_rule(rule: Rule, counts: dict[str, Any] | None = None) -> dict[str, Any]:
    """One rule: Rule.params carry the signature's defaults, Rule.arguments the values in effect
    (the decorator seeds them with the defaults, admit.yaml overrides some), so a parameter
    counts as overridden when its value differs from its default."""
    params = []
    for p in rule.params:
        value = rule.arguments.get(p.name, p.default)
        overridden = value != p.default
        params.append(
            {
                "name": p.name,
                "type": _annotation(p.annotation),
                "default": _json_safe(p.default),
                "value": _json_safe(value),
                "overridden": overridden,
            }
        )
    return {
        "key": rule.key,
        "policy": rule.policy,
        "name": rule.name,
        "type": rule.type,
        "description": rule.description,
        "action": rule.action,
        "on_error": rule.on_error,
        "path": rule.path,
        "match": _match(rule.match),
        "reads": [str(k) for k in rule.reads],
        "params": params,
        "file": rule.file,
        "line": rule.line,
        "stats": counts or {},
    }


@lru_cache(maxsize=256)
def _source(path: str, mtime_ns: int) -> tuple[str, str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return text, highlight(text)


def module_source(path: str) -> dict[str, Any] | None:
    """A module's text and highlighted HTML (cached by modification time), or None if gone;
    the text is what the policy editor starts from."""
    try:
        text, html = _source(path, os.stat(path).st_mtime_ns)
    except OSError:
        return None
    return {"file": path, "lines": text.count("\n") + 1, "html": html, "text": text}


def describe(
    policy_set: PolicySet | None, rule_stats: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The policy set grouped by module (policy), in bundle order."""
    if policy_set is None:
        return {"digest": None, "source": None, "modules": []}
    stats = rule_stats or {}
    modules: dict[str, dict[str, Any]] = {}
    for rule in policy_set.rules:
        module = modules.setdefault(
            rule.policy,
            {
                "policy": rule.policy,
                "file": rule.file,
                "shown": _shown(rule.file, policy_set),
                "rules": [],
            },
        )
        module["rules"].append(describe_rule(rule, stats.get(rule.key)))
    return {
        "digest": policy_set.digest,
        "source": policy_set.source,
        "rules": len(policy_set.rules),
        "modules": list(modules.values()),
    }


def _shown(path: str, policy_set: PolicySet) -> str:
    """A module's path as the user knows it: relative to the bundle directory when inside it."""
    root = os.path.abspath(policy_set.source) if policy_set.source else ""
    if root and os.path.abspath(path).startswith(root + os.sep):
        return os.path.join(policy_set.source, os.path.relpath(os.path.abspath(path), root))
    return path


def files_of(policy_set: PolicySet | None) -> Iterable[str]:
    """The module files the console may show (only those the set's rules came from)."""
    if policy_set is None:
        return ()
    return dict.fromkeys(r.file for r in policy_set.rules if r.file)
