"""Running a bundle's test cases (read by `admit.testing.cases`) and comparing what the
rules concluded with what the cases expect. `admit test`, the pytest plugin and
`admit.testing.run_cases` all run cases here.

Each resource is evaluated as `admit check` evaluates a manifest (`admission_request` ->
`Request` -> `evaluate`), with the case's objects as the cluster. Failures are data
(`Mismatch`), rendered as a small diff by whoever reports them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Literal

from admit.core.cluster import Cluster
from admit.core.decision import Decision
from admit.core.engine import PolicySet, evaluate
from admit.core.errors import Problem
from admit.core.exceptions import PolicyException
from admit.core.offline import review_of
from admit.core.outcome import Outcome, RuleResult
from admit.loading.config import apply_config, normalise
from admit.loading.loader import load_bundle
from admit.loading.overrides import Overrides
from admit.loading.yamlfile import LineDict
from admit.testing.cases import Case, CaseFile, Expectation, discover, read_case_file

_RANK = {"skip": 0, "pass": 1, "excepted": 2, "warn": 3, "fail": 4, "error": 5}
Verdict = Literal["passed", "failed", "error"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation a resource did not meet."""

    resource: str
    target: str
    field: str
    expected: Any
    actual: Any
    detail: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """A readable diff: `-` expected, `+` actual."""
        head = f"{self.resource}: {self.target}: {self.field}"
        if isinstance(self.expected, list) and isinstance(self.actual, list):
            diff = difflib.ndiff([_show(v) for v in self.expected], [_show(v) for v in self.actual])
            return [f"{head} differ (- expected, + actual)"] + [
                f"  {line}" for line in diff if not line.startswith("?")
            ]
        lines = [f"{head}: expected {_show(self.expected)}, got {_show(self.actual)}"]
        return lines + [f"    {line}" for line in self.detail]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """How one case went: passed, failed (with its mismatches) or error (it could not run)."""

    case: Case
    outcome: Verdict
    mismatches: tuple[Mismatch, ...] = ()
    error: str = ""
    duration_ns: int = 0

    def report(self) -> str:
        if self.outcome == "error":
            return f"error: {self.error}"
        return "\n".join(line for m in self.mismatches for line in m.lines())


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value in _RANK else repr(value)


class _CaseError(Exception):
    pass


class Runner:
    """Runs test cases against one loaded bundle (and per-file config overrides of it)."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self._sets: dict[str, PolicySet] = {}
        self._files: dict[str, CaseFile] = {}

    def prepare(self, case_file: CaseFile) -> list[Problem]:
        """Make ready to run the cases of `case_file`; its config's problems, if any."""
        self._files[case_file.label] = case_file
        if not case_file.config:
            return []
        resolve = self._resolver(case_file)
        config = _renamed(case_file.config, resolve)
        rules, problems = apply_config(list(self.policy_set.rules), config, case_file.label)
        if isinstance(config, Mapping) and "kinds" in config:
            line = config.line_of("kinds") if isinstance(config, LineDict) else None
            message = "kinds are declared in the bundle's admit.yaml, for every rule and case"
            problems.append(Problem(case_file.label, line, "invalid_config", message))
        self._sets[case_file.label] = self.policy_set.with_rules(rules)
        return problems

    def _resolver(self, case_file: CaseFile) -> Callable[[str], str | None]:
        policies = {r.policy for r in self.policy_set.rules}

        def resolve(name: str) -> str | None:
            for prefix in case_file.prefixes:
                if prefix + normalise(name) in policies:
                    return prefix + normalise(name)
            return None

        return resolve

    def run(self, case: Case) -> CaseResult:
        start = perf_counter_ns()
        case_file = self._files.get(case.file)
        policy_set = self._sets.get(case.file, self.policy_set)
        try:
            if case_file is None:
                raise _CaseError(f"{case.file} was not prepared")
            resolve = self._resolver(case_file)
            mismatches = [
                m for obj in case.resources for m in self._check(policy_set, case, obj, resolve)
            ]
        except _CaseError as exc:
            return CaseResult(case, "error", error=str(exc), duration_ns=perf_counter_ns() - start)
        verdict: Verdict = "failed" if mismatches else "passed"
        return CaseResult(case, verdict, tuple(mismatches), duration_ns=perf_counter_ns() - start)

    def _check(
        self,
        policy_set: PolicySet,
        case: Case,
        obj: dict[str, Any],
        resolve: Callable[[str], str | None],
    ) -> list[Mismatch]:
        decision = evaluate_case(policy_set, case, obj)
        label = _resource(obj)
        found: list[Mismatch] = []
        for expectation in case.expect:
            policy = resolve(expectation.policy)
            if policy is None:
                raise _CaseError(
                    f"{case.file}:{expectation.line}: no policy {expectation.policy!r} "
                    "in the bundle"
                )
            results = [r for r in decision.results if r.policy == policy]
            if expectation.rule:
                names = {normalise(r.name) for r in policy_set.rules if r.policy == policy}
                if normalise(expectation.rule) not in names:
                    raise _CaseError(
                        f"{case.file}:{expectation.line}: policy {expectation.policy} has no "
                        f"rule {expectation.rule!r} (rules: {', '.join(sorted(names))})"
                    )
                results = [r for r in results if normalise(r.rule) == normalise(expectation.rule)]
            found.extend(_compare(expectation, results, label))
        if case.allowed is not None and decision.allowed != case.allowed:
            found.append(
                Mismatch(
                    label,
                    "decision",
                    "allowed",
                    case.allowed,
                    decision.allowed,
                    tuple(decision.denials),
                )
            )
        if case.patch is not None and list(decision.patch) != list(case.patch):
            found.append(
                Mismatch(label, "decision", "patch", list(case.patch), list(decision.patch))
            )
        return found


def evaluate_case(policy_set: PolicySet, case: Case, obj: dict[str, Any]) -> Decision:
    """The decision about `obj`, sent as `case` says, as `admit check` would make it."""
    objects = [*case.cluster, *case.resources]
    old = case.old_object
    if old is None and case.operation in ("UPDATE", "DELETE"):
        old = obj
    request = review_of(  # without labels in the case, a Namespace among the objects gives them
        obj,
        kinds=policy_set.kinds,
        operation=case.operation,
        namespace=case.namespace,
        old_object=old,
        user={"username": case.user, "groups": [*case.groups, "system:authenticated"]},
        cluster=Cluster.of(objects),
        namespace_labels=case.namespace_labels,
    )
    return evaluate(policy_set, request)


def _resource(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or "?"
    where = f"{meta['namespace']}/{name}" if meta.get("namespace") else name
    return f"{obj.get('kind')} {where}"


def _messages(results: list[RuleResult]) -> list[str]:
    return [
        m
        for r in results
        for m in ([r.error or ""] if r.result == "error" else [v.message for v in r.violations])
    ]


def _compare(expectation: Expectation, results: list[RuleResult], label: str) -> list[Mismatch]:
    target = expectation.target
    actual: Outcome = max((r.result for r in results), key=_RANK.__getitem__, default="skip")
    messages = _messages(results)
    found: list[Mismatch] = []
    if expectation.result is not None and actual != expectation.result:
        detail = tuple(f"{v.message}  [{v.path}]" for r in results for v in r.violations)
        detail += tuple(f"rule error: {r.error}" for r in results if r.result == "error")
        found.append(Mismatch(label, target, "result", expectation.result, actual, detail))
    if expectation.messages is not None and list(expectation.messages) != messages:
        found.append(Mismatch(label, target, "messages", list(expectation.messages), messages))
    for text in expectation.contains:
        if not any(text in m for m in messages):
            found.append(
                Mismatch(label, target, "contains", text, None, tuple(messages) or ("no messages",))
            )
    paths = [v.path for r in results for v in r.violations]
    if expectation.paths is not None and list(expectation.paths) != paths:
        found.append(Mismatch(label, target, "paths", list(expectation.paths), paths))
    return found


def _renamed(config: Any, resolve: Callable[[str], str | None]) -> Any:
    """`config` with its policy names resolved as the file's expectations are."""
    policies = config.get("policies") if isinstance(config, dict) else None
    if not isinstance(policies, dict):
        return config
    renamed = LineDict()
    renamed.line = getattr(policies, "line", 0)
    for key, value in policies.items():
        name = resolve(str(key)) or str(key)
        renamed[name] = value
        renamed.lines[name] = policies.line_of(key) if isinstance(policies, LineDict) else 0
    copy = LineDict()
    copy.update(config)
    copy.line = getattr(config, "line", 0)
    copy.lines = dict(getattr(config, "lines", {}))
    copy["policies"] = renamed
    return copy


@dataclass(frozen=True, slots=True)
class Report:
    """Every case of a bundle run, and the problems of test files that could not run."""

    results: tuple[CaseResult, ...]
    problems: tuple[Problem, ...]
    duration_ns: int = 0
    exceptions: tuple[PolicyException, ...] = ()  # the bundle's, to report expired ones

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.outcome == verdict)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.outcome == "passed" for r in self.results)


def run_bundle(
    bundle: str | os.PathLike[str],
    *,
    select: str | None = None,
    overrides: Overrides | None = None,
) -> Report:
    """Load the bundle (raising `BundleError`), with `overrides` (`--set`, `--config`) over its
    admit.yaml, and run its test cases whose `file::name` contains `select`."""
    start = perf_counter_ns()
    root = Path(bundle)
    runner = Runner(load_bundle(root, overrides=overrides))
    problems: list[Problem] = []
    results: list[CaseResult] = []
    for path in discover(root):
        case_file, found = read_case_file(path, root)
        problems.extend(found)
        if case_file is None:
            continue
        config_problems = runner.prepare(case_file)
        problems.extend(config_problems)
        if config_problems:
            continue
        results.extend(
            runner.run(case) for case in case_file.cases if not select or select in case.id
        )
    duration = perf_counter_ns() - start
    return Report(tuple(results), tuple(problems), duration, runner.policy_set.exceptions)
