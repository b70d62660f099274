"""Reading a bundle's policy exceptions: every file named `exceptions.yaml` (or `.yml`) in it,
each problem located at its line, like admit.yaml's. In a ConfigMap source the file is a key of
the ConfigMap (`exceptions.yaml`), so exceptions travel inside the published version and every
worker applies the same ones.

    exceptions:
    - name: legacy-web                   # unique in the bundle
      owner: team-web                    # who answers for it
      reason: the image is rebuilt from the trusted registry in Q1
      expires: 2026-12-31                # a date (in force through that day, UTC) or a time
      policies: [trusted-images]         # `policy`, or `policy/rule`; globs
      match:                             # which objects; each key optional, all must hold
        kinds: [Pod, apps/Deployment]    # kind patterns, as rules name kinds
        namespaces: [team-web]           # globs
        names: [web-*]                   # globs
        selector: {matchLabels: {app: web}}

An exception that names no policy or rule of the bundle is a problem (a typo would silently
except nothing), except in a ConfigMap part, which may name the policies of other ConfigMaps.
An expired exception is no problem: it loads, no longer applies, and the tools report it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from admit.core.errors import DefinitionError, Problem
from admit.core.exceptions import PolicyException
from admit.core.kinds import Kinds
from admit.core.match import KindPattern, LabelSelector
from admit.core.rules import Rule
from admit.loading.yamlfile import LineDict, error_line, error_text, load_one

FILE_NAMES = frozenset({"exceptions.yaml", "exceptions.yml"})
_REQUIRED = ("name", "owner", "reason", "expires", "policies")
_KEYS = frozenset({*_REQUIRED, "match"})
_MATCH_KEYS = frozenset({"kinds", "namespaces", "names", "selector"})
_CODE = "invalid_exception"


def expiry(value: Any) -> tuple[float, str] | None:
    """(seconds since the epoch, as written) of an `expires:` value, or None if it is not a
    date or time. A date is in force through its whole day, UTC; a time without a zone is UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp(), moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        end = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), dt.UTC)
        return end.timestamp(), value.isoformat()
    return None


class _Reader:
    """One exceptions file; collects every problem with its line."""

    def __init__(self, label: str, kinds: Kinds) -> None:
        self.label = label
        self.kinds = kinds
        self.problems: list[Problem] = []

    def add(self, where: Any, key: Any, message: str) -> None:
        line = where.line_of(key) if isinstance(where, LineDict) else None
        self.problems.append(Problem(self.label, line, _CODE, message))

    def read(self, text: str) -> list[PolicyException]:
        try:
            doc = load_one(text)
        except yaml.YAMLError as exc:
            self.problems.append(
                Problem(self.label, error_line(exc), "invalid_yaml", error_text(exc))
            )
            return []
        if doc is None:
            return []
        if not isinstance(doc, dict) or not isinstance(doc.get("exceptions"), list):
            message = "an exceptions file is a mapping with a list of `exceptions`"
            self.problems.append(Problem(self.label, 1, _CODE, message))
            return []
        for key in doc:
            if key != "exceptions":
                self.add(doc, key, f"unknown key {key!r} (allowed: exceptions)")
        found = []
        for raw in doc["exceptions"]:
            exception = self.entry(raw)
            if exception is not None:
                found.append(exception)
        return found

    def strings(self, parent: Any, key: str, value: Any) -> tuple[str, ...] | None:
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v for v in items)
        ):
            self.add(parent, key, f"{key} must be a non-empty string or list of them")
            return None
        return tuple(items)

    def entry(self, raw: Any) -> PolicyException | None:
        if not isinstance(raw, LineDict):
            self.add(raw, None, "each exception is a mapping (name, owner, reason, expires, ...)")
            return None
        before = len(self.problems)
        for key in raw:
            if key not in _KEYS:
                self.add(raw, key, f"unknown key {key!r} (allowed: {', '.join(sorted(_KEYS))})")
        missing = [k for k in _REQUIRED if raw.get(k) in (None, "", [])]
        if missing:
            what = raw.get("name") or "an exception"
            self.add(raw, None, f"{what} needs {', '.join(missing)}: an exception is owned, "
                     "explained and expires")  # fmt: skip
            return None
        text = {k: raw[k] for k in ("name", "owner", "reason")}
        for key, value in text.items():
            if not isinstance(value, str):
                self.add(raw, key, f"{key} must be a string, got {value!r}")
        when = expiry(raw["expires"])
        if when is None:
            self.add(raw, "expires", f"expires must be a date (2026-12-31) or a time "
                     f"(2026-12-31T18:00:00Z), got {raw['expires']!r}")  # fmt: skip
        policies = self.strings(raw, "policies", raw["policies"])
        match = raw.get("match") or {}
        kinds: tuple[KindPattern, ...] = ()
        namespaces: tuple[str, ...] = ()
        names: tuple[str, ...] = ()
        selector = None
        if not isinstance(match, Mapping):
            self.add(raw, "match", "match must be a mapping (kinds, namespaces, names, selector)")
        else:
            for key in match:
                if key not in _MATCH_KEYS:
                    allowed = ", ".join(sorted(_MATCH_KEYS))
                    self.add(match, key, f"unknown key {key!r} in match (allowed: {allowed})")
            if "kinds" in match:
                kinds = self.kind_patterns(match, self.strings(match, "kinds", match["kinds"]))
            if "namespaces" in match:
                namespaces = self.strings(match, "namespaces", match["namespaces"]) or ()
            if "names" in match:
                names = self.strings(match, "names", match["names"]) or ()
            if match.get("selector") is not None:
                try:
                    selector = LabelSelector.parse(match["selector"])
                except DefinitionError as exc:
                    self.add(match, "selector", str(exc))
        if len(self.problems) > before or when is None or policies is None:
            return None
        return PolicyException(
            name=str(raw["name"]),
            owner=str(raw["owner"]),
            reason=str(raw["reason"]),
            expires=when[0],
            expires_text=when[1],
            rules=policies,
            kinds=kinds,
            namespaces=namespaces,
            names=names,
            selector=selector,
            source=f"{self.label}:{raw.line}",
        )

    def kind_patterns(self, match: Any, texts: tuple[str, ...] | None) -> tuple[KindPattern, ...]:
        patterns = []
        for text in texts or ():
            try:
                patterns.append(self.kinds.resolve(KindPattern.parse(text)))
            except DefinitionError as exc:
                self.add(match, "kinds", str(exc))
        return tuple(patterns)


def read_exceptions(
    files: Iterable[tuple[str, str]], kinds: Kinds
) -> tuple[list[PolicyException], list[Problem]]:
    """The exceptions in (label, text) files, and every problem found (names unique)."""
    found: list[PolicyException] = []
    problems: list[Problem] = []
    seen: dict[str, PolicyException] = {}
    for label, text in files:
        reader = _Reader(label, kinds)
        for exception in reader.read(text):
            if exception.name in seen:
                line = int(exception.source.rpartition(":")[2])
                other = seen[exception.name].source
                reader.problems.append(Problem(label, line, _CODE,
                                               f"another exception is named {exception.name!r} "
                                               f"({other})"))  # fmt: skip
                continue
            seen[exception.name] = exception
            found.append(exception)
        problems += reader.problems
    return found, problems


def unmatched(exceptions: Iterable[PolicyException], rules: Iterable[Rule]) -> list[Problem]:
    """A problem for each policy or rule an exception names that no validating rule has."""
    validating = [r for r in rules if r.type == "validate"]
    problems = []
    for exception in exceptions:
        for pattern in exception.rules:
            probe = PolicyException("", "", "", 0.0, "", (pattern,))
            if not any(probe.covers_rule(r.policy, r.name) for r in validating):
                policies = ", ".join(sorted({r.policy for r in validating})) or "none"
                path, _, line = exception.source.rpartition(":")
                problems.append(Problem(path, int(line), _CODE,
                                        f"exception {exception.name} names {pattern!r}, which is "
                                        f"no validating policy or rule of the bundle (policies: "
                                        f"{policies})"))  # fmt: skip
    return problems


def is_exceptions_file(path: Path) -> bool:
    return path.name in FILE_NAMES
