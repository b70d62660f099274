"""The kinds a bundle may name, and resolving a rule's kind patterns against them.

`Kinds` holds every API resource known when a bundle loads: the built-in ones (the loading
layer reads them from data generated from the Kubernetes API), custom resources the bundle
declares in `admit.yaml`, and those a cluster's discovery reports. The loader resolves each
pattern once: a name no resource has is an `UnknownKind` error that suggests the likely one
(`unknown kind 'pod'; did you mean 'Pod'?`), so a rule can never load and silently not fire.
Pure: no I/O, and nothing here runs on the request path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from admit.core.errors import DefinitionError
from admit.core.match import ANY_RESOURCE, KindPattern

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_GLOB = frozenset("*?[")


class UnknownKind(DefinitionError):
    """A kind pattern names no resource of the API the bundle is loaded against."""

    code = "unknown_kind"


@dataclass(frozen=True, slots=True)
class ApiResource:
    """One resource of the Kubernetes API at one version. `subresources` pairs each subresource
    name with the (group, version, kind) its writes carry (`scale` -> autoscaling/v1 Scale)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[tuple[str, tuple[str, str, str]], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def subresource_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.subresources)

    def __str__(self) -> str:
        return f"{self.api_version}/{self.kind}"


def version_order(version: str) -> tuple[int, int, int]:
    """Sort key putting the version Kubernetes prefers first: GA, then beta, then alpha, each
    highest first (`v2`, `v1`, `v1beta2`, `v1beta1`, `v1alpha1`)."""
    found = _VERSION.match(version)
    if found is None:
        return (3, 0, 0)
    major, stage, minor = found.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0))


def _is_glob(text: str) -> bool:
    return bool(_GLOB & set(text))


def _matches(value: str, pattern: str) -> bool:
    return pattern == "*" or value == pattern or fnmatchcase(value, pattern)


class Kinds:
    """API resources by kind; later entries replace earlier ones with the same group, version
    and kind (a cluster's discovery is more current than built-in data)."""

    __slots__ = ("_by_kind", "resources")

    def __init__(self, resources: Iterable[ApiResource] = ()) -> None:
        unique = {(r.group, r.version, r.kind): r for r in resources}
        self.resources: tuple[ApiResource, ...] = tuple(
            sorted(unique.values(), key=lambda r: (r.kind, r.group, version_order(r.version)))
        )
        self._by_kind: dict[str, list[ApiResource]] = {}
        for r in self.resources:
            self._by_kind.setdefault(r.kind, []).append(r)

    def __add__(self, more: Iterable[ApiResource]) -> Kinds:
        return Kinds((*self.resources, *more))

    def __iter__(self) -> Iterator[ApiResource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def find(self, group: str, version: str, kind: str) -> ApiResource | None:
        """The resource serving `kind` at group/version (any version if none is served there)."""
        named = self._by_kind.get(kind, ())
        for r in named:
            if r.group == group and r.version == version:
                return r
        return next((r for r in named if r.group == group), None)

    # --- resolving patterns ---------------------------------------------------------------
    def resolve(self, pattern: KindPattern) -> KindPattern:
        """`pattern` with the resources it names filled in; `UnknownKind` if it names none."""
        if pattern.kind == "*":
            if pattern.subresource and not _is_glob(pattern.subresource):
                self._check_any_has(pattern)
            return replace(pattern, resources=frozenset({ANY_RESOURCE}))
        if _is_glob(pattern.kind):
            named = [r for r in self.resources if fnmatchcase(r.kind, pattern.kind)]
            if not named:
                raise UnknownKind(f"unknown kind {str(pattern)!r}: the glob names no known kind")
        else:
            named = self._by_kind.get(pattern.kind, [])
            if not named:
                raise UnknownKind(self._unknown_kind(pattern))
        served = [
            r
            for r in named
            if _matches(r.group, pattern.group) and _matches(r.version, pattern.version)
        ]
        if not served:
            raise UnknownKind(self._not_served(pattern, named))
        if pattern.subresource:
            having = [
                r
                for r in served
                if any(_matches(name, pattern.subresource) for name in r.subresource_names)
            ]
            if not having:
                raise UnknownKind(self._no_subresource(pattern, served))
            served = having
        return replace(pattern, resources=frozenset((r.group, r.plural) for r in served))

    def resolve_read(self, pattern: KindPattern) -> KindPattern:
        """A kind for `reads=`: exactly one resource (group, version and kind, no glob), which
        the server can list and watch."""
        vague = (
            pattern.group == "*"
            or _is_glob(pattern.group + pattern.version + pattern.kind)
            or pattern.version == "*"
            or pattern.subresource
        )
        if vague:
            found = [
                r
                for r in self._by_kind.get(pattern.kind, ())
                if _matches(r.group, pattern.group) and _matches(r.version, pattern.version)
            ]
            hint = f"; did you mean {_text(found[0])!r}?" if found else ""
            raise UnknownKind(
                f"reads={str(pattern)!r}: name the group, version and kind the server should "
                f"watch, e.g. 'networking.k8s.io/v1/Ingress' or 'v1/Namespace'{hint}"
            )
        return self.resolve(pattern)

    def _check_any_has(self, pattern: KindPattern) -> None:
        names = {name for r in self.resources for name in r.subresource_names}
        if pattern.subresource not in names:
            close = difflib.get_close_matches(pattern.subresource, sorted(names), 1, 0.6)
            guess = str(replace(pattern, subresource=close[0])) if close else ""
            hint = f"; did you mean {guess!r}?" if close else ""
            raise UnknownKind(
                f"unknown kind {str(pattern)!r}: no kind has a subresource "
                f"{pattern.subresource!r}{hint}"
            )

    def _unknown_kind(self, pattern: KindPattern) -> str:
        text = f"unknown kind {str(pattern)!r}"
        guess = self._guess(pattern)
        if guess:
            return f"{text}; did you mean {guess!r}?"
        senders = self._sent_as(pattern.kind)
        if senders:
            shown = ", ".join(senders[:4])
            return (
                f"{text}: {pattern.kind} is not a resource but what requests to {shown} carry; "
                f"did you mean {senders[0]!r}?"
            )
        return (
            f"{text}: no built-in kind has that name; declare a custom resource under `kinds:` "
            "in admit.yaml (group, version, kind, plural, scope)"
        )

    def _guess(self, pattern: KindPattern) -> str | None:
        """The pattern as the user probably meant it: another case, a plural, a near miss, or
        a subresource written in capitals (`Pod/Exec`)."""
        lower = pattern.kind.lower()
        by_lower = {r.kind.lower(): r.kind for r in self.resources}
        by_plural = {r.plural: r.kind for r in self.resources}
        parent = self._by_kind.get(pattern.group, [])
        if parent and not pattern.subresource and lower in parent[0].subresource_names:
            return f"{pattern.group}/{lower}"
        kind = by_lower.get(lower) or by_plural.get(lower)
        if kind is None:
            close = difflib.get_close_matches(lower, sorted(by_lower), 1, 0.75)
            kind = by_lower[close[0]] if close else None
        if kind is None:
            return None
        return self._served_text(replace(pattern, kind=kind), self._by_kind[kind])

    def _served_text(self, pattern: KindPattern, named: list[ApiResource]) -> str:
        """`pattern` as text if it resolves, else the nearest form that does."""
        try:
            self.resolve(pattern)
        except UnknownKind:
            return self._nearest(pattern, named)
        return str(pattern)

    def _nearest(self, pattern: KindPattern, named: list[ApiResource]) -> str:
        same_version = [r for r in named if r.version == pattern.version]
        best = (same_version or named)[0]
        version = "*" if pattern.version == "*" else best.version
        group = "*" if pattern.group == "*" else best.group
        return str(replace(pattern, group=group, version=version, kind=best.kind))

    def _not_served(self, pattern: KindPattern, named: list[ApiResource]) -> str:
        if pattern.group == "":
            where = "the core group" + (f" {pattern.version}" if pattern.version != "*" else "")
            if pattern.version != "*":
                where += f" (apiVersion: {pattern.version})"
        elif pattern.version == "*":
            where = f"group {pattern.group}"
        else:
            where = f"{pattern.group}/{pattern.version}"
        served = ", ".join(str(r) for r in named)
        return (
            f"unknown kind {str(pattern)!r}: {where} has no {pattern.kind}; did you mean "
            f"{self._nearest(pattern, named)!r}? ({pattern.kind} is served as {served})"
        )

    def _no_subresource(self, pattern: KindPattern, served: list[ApiResource]) -> str:
        names = sorted({name for r in served for name in r.subresource_names})
        close = difflib.get_close_matches(pattern.subresource.lower(), names, 1, 0.6)
        hint = f"; did you mean {str(replace(pattern, subresource=close[0]))!r}?" if close else ""
        listed = f" (its subresources: {', '.join(names)})" if names else " (it has none)"
        return (
            f"unknown kind {str(pattern)!r}: {pattern.kind} has no subresource "
            f"{pattern.subresource!r}{hint}{listed}"
        )

    def _sent_as(self, kind: str) -> list[str]:
        """`Parent/subresource` for each subresource whose writes carry `kind`."""
        found = []
        for r in self.resources:
            for name, (_, _, sent) in r.subresources:
                if sent == kind and sent != r.kind:
                    found.append(f"{r.kind}/{name}")
        return list(dict.fromkeys(found))


def _text(resource: ApiResource) -> str:
    return str(KindPattern(resource.group, resource.version, resource.kind))


__all__ = ["ApiResource", "Kinds", "UnknownKind", "version_order"]
