"""The kinds a bundle is loaded against: the API's built-in kinds, the custom resources the
bundle declares under `kinds:` in admit.yaml, and any the caller adds (a cluster's discovery).

    kinds:
      - group: stable.example.com
        version: v1              # or versions: [v1, v1beta1]
        kind: CronTab
        plural: crontabs
        scope: Namespaced        # or Cluster
        subresources: [status]   # optional: status, scale

`resolve_rules` resolves every rule's kind patterns and `reads=` against them, reporting each
unknown kind as a located problem. Called by the loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from admit.core.errors import Problem
from admit.core.kinds import ApiResource, Kinds, UnknownKind
from admit.core.match import KindPattern
from admit.core.rules import Rule
from admit.loading.yamlfile import LineDict

_KEYS = frozenset({"group", "version", "versions", "kind", "plural", "scope", "subresources"})
_GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PLURAL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SCOPES = {"Namespaced": True, "Cluster": False}
CRD_SUBRESOURCES = ("scale", "status")  # the only subresources a CustomResourceDefinition has
_SCALE = ("autoscaling", "v1", "Scale")


def declared_kinds(
    config: Any, path: str, builtin: Kinds
) -> tuple[list[ApiResource], list[Problem]]:
    """The custom resources declared under `kinds:` of a parsed admit.yaml, and every problem."""
    problems: list[Problem] = []
    found: list[ApiResource] = []
    entries = config.get("kinds") if isinstance(config, Mapping) else None
    if entries is None:
        return found, problems
    if not isinstance(entries, list):
        problems.append(Problem(path, _line(config, "kinds"), "invalid_kinds", _LIST))
        return found, problems
    for entry in entries:
        resources, entry_problems = _entry(entry, path, config)
        problems += entry_problems
        for resource in resources:
            taken = builtin.find(resource.group, resource.version, resource.kind)
            if taken is not None and taken.version == resource.version:
                problems.append(
                    Problem(
                        path,
                        _line(entry, "kind"),
                        "invalid_kinds",
                        f"{resource} is built into Kubernetes; declare only custom resources",
                    )
                )
            elif any(str(r) == str(resource) for r in found):
                problems.append(
                    Problem(
                        path, _line(entry, "kind"), "invalid_kinds", f"{resource} is declared twice"
                    )
                )
            else:
                found.append(resource)
    return found, problems


_LIST = (
    "kinds must be a list of custom resources, each with group, version, kind, plural and "
    "scope (Namespaced or Cluster)"
)


def _line(where: Any, key: str) -> int | None:
    return where.line_of(key) if isinstance(where, LineDict) else None


def _entry(entry: Any, path: str, config: Any) -> tuple[list[ApiResource], list[Problem]]:
    if not isinstance(entry, Mapping):
        return [], [Problem(path, _line(config, "kinds"), "invalid_kinds", _LIST)]
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(path, _line(entry, key), "invalid_kinds", message))

    for key in entry:
        if key not in _KEYS:
            bad(key, f"unknown key {key!r} in a kind (allowed: {', '.join(sorted(_KEYS))})")
    group, kind, plural, scope = (entry.get(k) for k in ("group", "kind", "plural", "scope"))
    name = kind if isinstance(kind, str) else "a kind"
    if not isinstance(group, str) or not _GROUP.match(group):
        bad("group", f"{name}: group must be an API group with a dot, like stable.example.com")
    if not isinstance(kind, str) or not _KIND.match(kind):
        bad("kind", f"kind must be a name in CamelCase, like CronTab, not {kind!r}")
    if not isinstance(plural, str) or not _PLURAL.match(plural):
        bad("plural", f"{name}: plural must be the lower-case resource name, like crontabs")
    if scope not in SCOPES:
        bad("scope", f"{name}: scope must be Namespaced or Cluster, not {scope!r}")
    versions = _versions(entry, name, bad)
    subresources = entry.get("subresources") or []
    if not isinstance(subresources, list) or not set(subresources) <= set(CRD_SUBRESOURCES):
        bad("subresources", f"{name}: subresources may be {' and '.join(CRD_SUBRESOURCES)}")
        subresources = []
    if problems:
        return [], problems
    group, kind, plural = str(group), str(kind), str(plural)  # checked above
    return [
        ApiResource(
            group,
            version,
            kind,
            plural,
            SCOPES[str(scope)],
            tuple(
                (sub, _SCALE if sub == "scale" else (group, version, kind))
                for sub in sorted(set(subresources))
            ),
        )
        for version in versions
    ], []


def _versions(entry: Mapping[str, Any], name: str, bad: Any) -> list[str]:
    if "version" in entry and "versions" in entry:
        bad("versions", f"{name}: give version or versions, not both")
        return []
    versions = entry.get("versions", [entry.get("version")])
    key = "versions" if "versions" in entry else "version"
    if not isinstance(versions, list) or not versions:
        bad(key, f"{name}: versions must be a list of versions like v1")
        return []
    for version in versions:
        if not isinstance(version, str) or not _VERSION.match(version):
            bad(key, f"{name}: version must be like v1, v1beta1 or v2alpha1, not {version!r}")
            return []
    return list(dict.fromkeys(versions))


def resolve_rules(
    rules: Iterable[Rule], kinds: Kinds, rel: Any
) -> tuple[list[Rule], list[Problem]]:
    """`rules` with their kind patterns and `reads=` resolved against `kinds`, and a problem at
    its declaration for each unknown kind (`rel` makes the path relative to the bundle); a rule
    with a problem is kept as it was (the load fails anyway)."""
    resolved: list[Rule] = []
    problems: list[Problem] = []
    for rule in rules:
        if rule.match is None:
            resolved.append(rule)
            continue
        patterns: list[KindPattern] = []
        reads: list[KindPattern] = []
        errors: list[UnknownKind] = []
        for pattern in rule.match.kinds:
            try:
                patterns.append(kinds.resolve(pattern))
            except UnknownKind as exc:
                errors.append(exc)
        for pattern in rule.reads:
            try:
                reads.append(kinds.resolve_read(pattern))
            except UnknownKind as exc:
                errors.append(exc)
        for error in errors:
            message = f"rule {rule.name}: {error}"
            problems.append(Problem(rel(rule.file), rule.line or None, error.code, message))
        if errors:
            resolved.append(rule)
        else:
            resolved.append(
                rule.configured(match=rule.match.with_kinds(patterns), reads=tuple(reads))
            )
    return resolved, problems
