"""Which requests a rule applies to: kinds, operations, namespaces, labels, users.

A `Match` is a frozen value checked once when a rule is declared; the loader resolves its kind
patterns against the API's kinds (`admit.core.kinds`), the engine indexes rules by the kind of
each request, then calls `Match.admits` on the few candidates left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from admit.core.errors import DefinitionError

if TYPE_CHECKING:
    from admit.core.review import Request

OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})

ANY_RESOURCE = ("*", "*")  # in `KindPattern.resources`: the pattern's kind is "*"
NO_RESOURCE = ("", "", "")

# Subresources whose writes change what a rule about the resource judges: the request carries
# the whole resource as it will be. kubectl debug adds containers through
# `pods/ephemeralcontainers`; `pods/resize` changes container resources in place. A pattern
# naming the resource without a subresource judges these too, as UPDATEs of it. (Status writes,
# bindings, evictions, scale and the CONNECT subresources are named explicitly: see
# docs/kinds.md.)
SPEC_SUBRESOURCES: Mapping[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"ephemeralcontainers", "resize"}),
}


@dataclass(frozen=True, slots=True)
class KindPattern:
    """`Kind`, `version/Kind` (the core group: `v1/Pod`, as in `apiVersion: v1`), `group/Kind`,
    `group/version/Kind`, each part a glob; a trailing lower-case part names a subresource
    (`Pod/exec`, `apps/v1/Deployment/scale`). `core` names the core group (`core/Pod`).

    `resources` is filled in when the loader resolves the pattern against the API's kinds: the
    (group, plural) of each resource it names (`ANY_RESOURCE` for `*`); None until then. It is
    derived, so it takes no part in comparing patterns."""

    group: str
    version: str
    kind: str
    subresource: str = ""
    resources: frozenset[tuple[str, str]] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> KindPattern:
        parts = text.strip().split("/")
        subresource = ""
        if len(parts) > 1 and parts[-1][:1].islower():
            subresource = parts.pop()
        if not parts or not all(parts) or len(parts) > 3:
            raise DefinitionError(
                f"kind {text!r} is not Kind, version/Kind, group/Kind or group/version/Kind"
            )
        if len(parts) == 1:
            return cls("*", "*", parts[0], subresource)
        if len(parts) == 2:
            first, kind = parts
            if first == "*":
                return cls("*", "*", kind, subresource)
            if _VERSION.match(first):
                return cls("", first, kind, subresource)
            return cls("" if first == "core" else first, "*", kind, subresource)
        group, version, kind = parts
        return cls("" if group == "core" else group, version, kind, subresource)

    def record(self) -> list[Any]:
        """The pattern, resolution included, as JSON (the sandbox reports rules' reads so)."""
        resources = sorted(map(list, self.resources)) if self.resources is not None else None
        return [self.group, self.version, self.kind, self.subresource, resources]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> KindPattern:
        group, version, kind, subresource, resources = record
        found = frozenset(map(tuple, resources)) if resources is not None else None
        return cls(group, version, kind, subresource, found)

    @property
    def literal_kind(self) -> str | None:
        """The kind name when it has no wildcard (used as an index key)."""
        return None if any(c in self.kind for c in "*?[") else self.kind

    @property
    def plural(self) -> str:
        """The resource name of a resolved pattern naming one resource (`reads=`)."""
        assert self.resources is not None, f"{self} is not resolved"
        [(_, plural)] = self.resources
        return plural

    def covers(self, group: str, version: str, kind: str) -> bool:
        return (
            (self.kind == kind or fnmatchcase(kind, self.kind))
            and (self.group == "*" or fnmatchcase(group, self.group))
            and (self.version == "*" or fnmatchcase(version, self.version))
        )

    def names(self, group: str, version: str, plural: str) -> bool:
        """Whether the resource group/version/plural is one this (resolved) pattern names."""
        resources = self.resources
        return (
            resources is not None
            and ((group, plural) in resources or ANY_RESOURCE in resources)
            and (self.group == "*" or fnmatchcase(group, self.group))
            and (self.version == "*" or fnmatchcase(version, self.version))
        )

    def selects(
        self,
        group: str,
        version: str,
        kind: str,
        subresource: str = "",
        resource: tuple[str, str, str] = NO_RESOURCE,
    ) -> bool:
        """Whether a request for this kind (and `subresource` of `resource`, its group, version
        and plural) is one this pattern names. `Pod` is the pod itself and the subresources
        that rewrite it (`SPEC_SUBRESOURCES`); `Pod/exec` matches `pods/exec` whatever kind the
        subresource carries (PodExecOptions)."""
        if not subresource:
            return not self.subresource and self.covers(group, version, kind)
        if self.subresource:
            if not (self.subresource == subresource or fnmatchcase(subresource, self.subresource)):
                return False
        elif subresource not in SPEC_SUBRESOURCES.get((resource[0], resource[2]), ()):
            return False
        if self.resources is None:  # unresolved: only subresources carrying the kind itself
            return self.covers(group, version, kind)
        return self.names(*resource)

    def __str__(self) -> str:
        if self.group == "*":
            prefix = "" if self.version == "*" else f"*/{self.version}/"
        elif self.group == "":
            prefix = "core/" if self.version == "*" else f"{self.version}/"
        else:
            prefix = f"{self.group}/" if self.version == "*" else f"{self.group}/{self.version}/"
        text = prefix + self.kind
        return f"{text}/{self.subresource}" if self.subresource else text


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector: matchLabels and matchExpressions, all ANDed."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | LabelSelector) -> LabelSelector:
        if isinstance(spec, LabelSelector):
            return spec
        if not isinstance(spec, Mapping):
            raise DefinitionError("a label selector is a mapping with matchLabels/matchExpressions")
        unknown = set(spec) - {"matchLabels", "matchExpressions"}
        if unknown:
            raise DefinitionError(f"label selector has unknown keys: {', '.join(sorted(unknown))}")
        labels = spec.get("matchLabels") or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise DefinitionError("matchLabels must map label names to string values")
        expressions = []
        for expr in spec.get("matchExpressions") or ():
            if not isinstance(expr, Mapping):
                raise DefinitionError("each matchExpressions item is a mapping")
            key, op = expr.get("key"), expr.get("operator")
            values = expr.get("values") or []
            if not isinstance(key, str) or op not in _SELECTOR_OPERATORS:
                raise DefinitionError(
                    f"matchExpressions needs a key and an operator among "
                    f"{sorted(_SELECTOR_OPERATORS)}, got {dict(expr)!r}"
                )
            if op in ("In", "NotIn") and not values:
                raise DefinitionError(f"operator {op} needs values (key {key!r})")
            if op in ("Exists", "DoesNotExist") and values:
                raise DefinitionError(f"operator {op} takes no values (key {key!r})")
            expressions.append((key, op, frozenset(str(v) for v in values)))
        return cls(tuple(sorted(labels.items())), tuple(expressions))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, op, values in self.match_expressions:
            present = key in labels
            if op == "In":
                ok = present and labels[key] in values
            elif op == "NotIn":
                ok = not present or labels[key] not in values
            elif op == "Exists":
                ok = present
            else:
                ok = not present
            if not ok:
                return False
        return True


def _globs(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(v, str) and v for v in items):
        raise DefinitionError(f"{what} must be non-empty strings, got {items!r}")
    return items


def _any_glob(patterns: tuple[str, ...], value: str) -> bool:
    return any(p == value or fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule applies to. Empty fields match everything; namespace filters compare globs
    with `request.namespace`, so a namespaced filter never matches cluster-scoped objects."""

    kinds: tuple[KindPattern, ...] = ()
    operations: frozenset[str] = frozenset()
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()
    exclude_groups: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        kinds: str | Sequence[str] = "*",
        *,
        operations: str | Sequence[str] | None = None,
        namespaces: str | Sequence[str] | None = None,
        exclude_namespaces: str | Sequence[str] | None = None,
        namespace_selector: Mapping[str, Any] | LabelSelector | None = None,
        object_selector: Mapping[str, Any] | LabelSelector | None = None,
        users: str | Sequence[str] | None = None,
        groups: str | Sequence[str] | None = None,
        exclude_users: str | Sequence[str] | None = None,
        exclude_groups: str | Sequence[str] | None = None,
    ) -> Match:
        """Build and check a Match from the plain values users write."""
        kind_texts = _globs(kinds, "kinds") or ("*",)
        ops = frozenset(o.upper() for o in _globs(operations, "operations"))
        if "*" in ops:
            ops = frozenset(OPERATIONS)
        if ops - OPERATIONS:
            raise DefinitionError(
                f"unknown operations {sorted(ops - OPERATIONS)}; use {sorted(OPERATIONS)} or '*'"
            )
        patterns = tuple(KindPattern.parse(k) for k in kind_texts)
        return cls(
            kinds=patterns,
            operations=ops,
            namespaces=_globs(namespaces, "namespaces"),
            exclude_namespaces=_globs(exclude_namespaces, "exclude_namespaces"),
            namespace_selector=None
            if namespace_selector is None
            else LabelSelector.parse(namespace_selector),
            object_selector=None
            if object_selector is None
            else LabelSelector.parse(object_selector),
            users=_globs(users, "users"),
            groups=_globs(groups, "groups"),
            exclude_users=_globs(exclude_users, "exclude_users"),
            exclude_groups=_globs(exclude_groups, "exclude_groups"),
        )

    def with_kinds(self, kinds: Iterable[KindPattern]) -> Match:
        """This match with its kind patterns replaced (by their resolved forms)."""
        return replace(self, kinds=tuple(kinds))

    def with_operations(self, operations: frozenset[str]) -> Match:
        """This match with `operations` filled in where it named none."""
        if self.operations:
            return self
        return replace(self, operations=operations)

    def admits(self, request: Request) -> bool:
        """Whether everything but the kind (already chosen by the index) matches `request`."""
        if self.operations and request.operation not in self.operations:
            return False
        ns = request.namespace
        if self.namespaces and not _any_glob(self.namespaces, ns):
            return False
        if self.exclude_namespaces and ns and _any_glob(self.exclude_namespaces, ns):
            return False
        if self.users or self.groups or self.exclude_users or self.exclude_groups:
            user = request.user
            if self.exclude_users and _any_glob(self.exclude_users, user.username):
                return False
            if self.exclude_groups and any(_any_glob(self.exclude_groups, g) for g in user.groups):
                return False
            if (self.users or self.groups) and not (
                _any_glob(self.users, user.username)
                or any(_any_glob(self.groups, g) for g in user.groups)
            ):
                return False
        if self.object_selector is not None and not (
            self.object_selector.matches(request.labels)
            or (request.old_labels is not None and self.object_selector.matches(request.old_labels))
        ):
            return False
        return self.namespace_selector is None or self.namespace_selector.matches(
            request.namespace_labels
        )
