"""The format of a bundle's own test cases: `*_test.yaml` files anywhere in the bundle, each a
list of resources, how they reach admission, and what each policy or rule must conclude of
them. This module reads and checks them (every problem with its line, like `admit.yaml`);
`admit.testing.runner` runs them. The format:

    config:                        # optional, admit.yaml-style overrides for this file's cases
      policies: {require-labels: {parameters: {labels: [team]}}}
    cases:
    - name: a pod on the host network is denied
      resources:                   # manifests, inline or {file: path relative to this file};
      - {file: pods/host-network.yaml}       # `resource:` takes a single one
      operation: CREATE            # UPDATE, DELETE, CONNECT
      old_object: {...}            # UPDATE and DELETE; defaults to the resource itself
      namespace: default           # for resources whose manifest names none
      namespace_labels: {env: prod}  # default: the labels of a Namespace among the objects
      user: alice                  # default admit-test; groups: [devs]
      cluster: [...]               # objects already in the cluster, as `resources`
      expect:                      # every resource of the case must meet every expectation
        host-namespaces: fail      # a policy: the worst result of its rules
        host-namespaces/host_namespaces:     # one rule, in detail
          result: fail             # pass | fail | warn | skip | error
          messages: ["the pod must not set hostNetwork=true"]  # all of them, in order
          contains: hostNetwork    # a substring (or a list) some message must contain
          paths: [spec.hostNetwork]
      allowed: false               # optional: the decision itself
      patch: []                    # optional: the JSON patch of the mutations

A rule that does not apply to a resource (another kind) counts as `skip`. Policy names resolve
from the test file's directory upwards, so a sub-bundle's cases run alike when the sub-bundle
or a parent directory is the bundle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from admit.core.errors import InputError, Problem
from admit.core.match import OPERATIONS
from admit.core.outcome import OUTCOMES, Outcome
from admit.loading.files import Skipped, read_manifests
from admit.loading.loader import bundle_files, policy_name
from admit.loading.yamlfile import LineDict, error_line, error_text, load_one

SUFFIXES = ("_test.yaml", "_test.yml")
DEFAULT_USER = "admit-test"
_FILE_KEYS = frozenset({"config", "cases"})
_CASE_KEYS = frozenset(
    {
        "name",
        "resource",
        "resources",
        "operation",
        "old_object",
        "namespace",
        "namespace_labels",
        "user",
        "groups",
        "cluster",
        "expect",
        "allowed",
        "patch",
    }
)
_EXPECT_KEYS = frozenset({"result", "messages", "contains", "paths"})


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a policy (`rule` empty) or one rule must conclude; None fields are not checked."""

    policy: str
    rule: str
    line: int
    result: Outcome | None = None
    messages: tuple[str, ...] | None = None
    contains: tuple[str, ...] = ()
    paths: tuple[str | None, ...] | None = None

    @property
    def target(self) -> str:
        return f"{self.policy}/{self.rule}" if self.rule else self.policy


@dataclass(frozen=True, slots=True)
class Case:
    """One test case, as written."""

    file: str
    name: str
    line: int
    resources: tuple[dict[str, Any], ...]
    expect: tuple[Expectation, ...] = ()
    operation: str = "CREATE"
    old_object: dict[str, Any] | None = None
    namespace: str = "default"
    namespace_labels: Mapping[str, str] | None = None
    user: str = DEFAULT_USER
    groups: tuple[str, ...] = ()
    cluster: tuple[dict[str, Any], ...] = ()
    allowed: bool | None = None
    patch: tuple[Any, ...] | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass(frozen=True, slots=True)
class CaseFile:
    """A test file: its cases, its config overrides, and the policy-name prefixes its
    directory gives (`pss.baseline.`, `pss.`, `` for `pss/baseline/tests/x_test.yaml`)."""

    path: Path
    label: str
    prefixes: tuple[str, ...]
    cases: tuple[Case, ...]
    config: Any = None


def is_test_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def discover(root: Path) -> list[Path]:
    """The test files of the bundle at `root`, in bundle order."""
    return [p for p in bundle_files(root) if is_test_file(p)]


def _label(path: Path) -> str:
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _prefixes(path: Path, root: Path) -> tuple[str, ...]:
    try:
        parts = path.resolve().parent.relative_to(root.resolve()).parts
    except ValueError:
        return ("",)
    return (*(f"{policy_name(Path(*parts[:n]))}." for n in range(len(parts), 0, -1)), "")


class _Reader:
    """Reads one test file, collecting every problem with its line."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        self.problems: list[Problem] = []

    def add(self, where: Any, key: Any, message: str, code: str = "invalid_test") -> None:
        line = where.line_of(key) if isinstance(where, LineDict) else None
        self.problems.append(Problem(self.label, line, code, message))

    def read(self, root: Path) -> CaseFile | None:
        try:
            doc = load_one(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(self.label, None, "unreadable", str(exc)))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(
                Problem(self.label, error_line(exc), "invalid_yaml", error_text(exc))
            )
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
            self.add(doc, None, "a test file is a mapping with a list of `cases`")
            return None
        for key in doc:
            if key not in _FILE_KEYS:
                self.add(doc, key, f"unknown key {key!r} (allowed: config, cases)")
        cases: list[Case] = []
        names: set[str] = set()
        for raw in doc["cases"]:
            case = self._case(raw)
            if case is not None and case.name in names:
                self.add(raw, "name", f"another case is named {case.name!r}")
            elif case is not None:
                names.add(case.name)
                cases.append(case)
        prefixes = _prefixes(self.path, root)
        return CaseFile(self.path, self.label, prefixes, tuple(cases), doc.get("config"))

    def _case(self, raw: Any) -> Case | None:
        if not isinstance(raw, LineDict):
            self.add(None, None, "each case is a mapping")
            return None
        before = len(self.problems)
        for key in raw:
            if key not in _CASE_KEYS:
                self.add(raw, key, f"unknown key {key!r} in a case")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.add(raw, "name", "a case needs a name")
        if ("resource" in raw) == ("resources" in raw):
            self.add(raw, "name", "a case needs either `resource` or `resources`")
        single = raw.get("resource")
        resources = self._objects(raw, "resources", [single] if single else raw.get("resources"))
        operation = str(raw.get("operation", "CREATE")).upper()
        if operation not in OPERATIONS:
            self.add(raw, "operation", f"operation must be one of {', '.join(sorted(OPERATIONS))}")
        old = self._objects(raw, "old_object", [raw["old_object"]] if "old_object" in raw else [])
        labels = raw.get("namespace_labels")
        if labels is not None and not isinstance(labels, dict):
            self.add(raw, "namespace_labels", "namespace_labels maps label names to values")
        expect = self._expectations(raw.get("expect"), raw)
        patch = raw.get("patch")
        if patch is not None and not isinstance(patch, list):
            self.add(raw, "patch", "patch is a list of JSON patch operations")
        allowed = raw.get("allowed")
        if allowed is not None and not isinstance(allowed, bool):
            self.add(raw, "allowed", "allowed is true or false")
        if len(self.problems) > before:
            return None
        return Case(
            file=self.label,
            name=str(name),
            line=raw.line,
            resources=resources,
            expect=expect,
            operation=operation,
            old_object=old[0] if old else None,
            namespace=str(raw.get("namespace", "default")),
            namespace_labels={str(k): str(v) for k, v in labels.items()} if labels else labels,
            user=str(raw.get("user", DEFAULT_USER)),
            groups=tuple(str(g) for g in raw.get("groups") or ()),
            cluster=self._objects(raw, "cluster", raw.get("cluster") or []),
            allowed=allowed,
            patch=tuple(patch) if patch is not None else None,
        )

    def _objects(self, where: Any, key: str, items: Any) -> tuple[dict[str, Any], ...]:
        if not isinstance(items, list):
            self.add(where, key, f"{key} is a list of manifests or {{file: path}}")
            return ()
        found: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, dict) and set(item) == {"file"}:
                found.extend(self._file(where, key, str(item["file"])))
            elif isinstance(item, dict) and item.get("kind") and item.get("apiVersion"):
                found.append(item)
            else:
                self.add(where, key, f"{key}: each item is a manifest or {{file: path}}")
        return tuple(found)

    def _file(self, where: Any, key: str, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for item in read_manifests([str(self.path.parent / name)]):
            if isinstance(item, (InputError, Skipped)):  # a test names its files: all must count
                self.add(where, key, f"{key}: {item}")
            else:
                found.append(item.obj)
        return found

    def _expectations(self, raw: Any, case: Any) -> tuple[Expectation, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, LineDict):
            self.add(case, "expect", "expect maps policy or policy/rule names to results")
            return ()
        found = []
        for target, value in raw.items():
            policy, _, rule = str(target).partition("/")
            spec = value if isinstance(value, dict) else {"result": value}
            for key in spec:
                if key not in _EXPECT_KEYS:
                    self.add(spec, key, f"unknown key {key!r} (allowed: {', '.join(_EXPECT_KEYS)})")
            result = spec.get("result")
            if result is not None and result not in OUTCOMES:
                self.add(raw, target, f"result must be one of {', '.join(OUTCOMES)}")
                continue
            contains = spec.get("contains", ())
            found.append(
                Expectation(
                    policy,
                    rule,
                    raw.line_of(target),
                    result,
                    _strings(spec.get("messages")),
                    (contains,) if isinstance(contains, str) else tuple(map(str, contains)),
                    _paths(spec.get("paths")),
                )
            )
        return tuple(found)


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _paths(value: Any) -> tuple[str | None, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    return tuple(None if v is None else str(v) for v in items)


def read_case_file(path: Path, root: Path) -> tuple[CaseFile | None, list[Problem]]:
    """The test file at `path` of the bundle at `root`, and every problem found in it."""
    reader = _Reader(path, _label(path))
    return reader.read(root), reader.problems
