"""The engine: an immutable, kind-indexed `PolicySet` and `evaluate`, the one entry point that
the webhook, `admit check`, `admit test` and audits all call (the data API reads decisions
through `admit.core.document`).

Pure: no I/O. A rule that raises becomes an `error` result naming the rule; its traceback is kept
on the result for the adapter to log. A rule's violations on an object that a policy exception
in force covers make an `excepted` result, which never denies.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter_ns
from types import GeneratorType
from typing import Any, Literal

from admit.core.decision import DEFAULT_MESSAGE_FORMAT, Decision, decide
from admit.core.errors import AdmitError, RuleTimeout
from admit.core.exceptions import PolicyException, applying
from admit.core.kinds import Kinds
from admit.core.match import KindPattern, Match
from admit.core.outcome import Outcome, RuleResult, Violation
from admit.core.patch import MutableObject, copy_json, make_patch
from admit.core.review import EMPTY_DATA, Request, with_object
from admit.core.rules import Rule
from admit.core.views import View
from admit.core.workloads import POD_TEMPLATES, TEMPLATE_PREFIX, template_of

Phase = Literal["all", "mutate", "validate"]
_CACHE_LIMIT = 4096
NAMESPACES = KindPattern("", "v1", "Namespace", resources=frozenset({("", "namespaces")}))
# What a rule may raise without taking its server down: a rule calling sys.exit() has failed.
RULE_FAILURES = (Exception, RuleTimeout, SystemExit, KeyboardInterrupt)
_ADMIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LIBRARY_DIR = os.path.join(_ADMIT_DIR, "policies") + os.sep  # policy code, though shipped


class EvaluationError(AdmitError):
    """A decision rule raised; the API answers 500 with this message, never the traceback.
    `rule` is its key, `location` the `file:line` in policy code where it raised."""

    code = "evaluation_error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, rule: str = "", location: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.location = location
        self.evaluated: tuple[Any, ...] = ()  # the decisions run, as `document.Evaluated`


@dataclass(frozen=True, slots=True)
class Binding:
    """A rule as it applies to one kind: directly, or to the pod template at `keys`."""

    rule: Rule
    keys: tuple[str, ...] | None = None
    prefix: str = ""
    # When the rule's match filters on nothing but operations (besides the kind the index has
    # chosen): those operations, so the hot path skips `Match.admits`.
    operations: frozenset[str] | None = None
    exceptions: tuple[PolicyException, ...] = ()  # those naming the rule, looked at on failure

    @classmethod
    def of(
        cls,
        rule: Rule,
        keys: tuple[str, ...] | None = None,
        prefix: str = "",
        exceptions: tuple[PolicyException, ...] = (),
    ) -> Binding:
        match = rule.match
        simple = match is not None and match == Match(
            kinds=match.kinds, operations=match.operations
        )
        return cls(rule, keys, prefix, match.operations if simple and match else None, exceptions)


class PolicySet:
    """An immutable set of rules with bundle data, indexed by kind on first use of each kind.

    `kinds` are the API's kinds the rules were resolved against (the loader's); `admit check`
    turns manifests into requests with them. `exceptions` are the bundle's policy exceptions,
    expired ones included (they no longer apply, and tools report them). `bundles` names the
    bundles it was built from, each with its revision."""

    __slots__ = (
        "_has_data",
        "_index",
        "bundles",
        "data",
        "decisions",
        "digest",
        "exceptions",
        "kinds",
        "message_format",
        "reads",
        "rules",
        "source",
    )

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        data: Mapping[str, Any] | None = None,
        digest: str = "",
        source: str = "",
        kinds: Kinds | None = None,
        message_format: str | None = None,
        exceptions: Iterable[PolicyException] = (),
        bundles: Mapping[str, str] | None = None,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.exceptions: tuple[PolicyException, ...] = tuple(exceptions)
        # The bundles it was built from, by name, with their `.manifest` revision ("" when
        # they have none): what decision logs and the Data API's provenance report.
        self.bundles: Mapping[str, str] = dict(bundles or {})
        # How denials and warnings read (`decision.message_format_problem` checks it first);
        # None: as the rules wrote them.
        self.message_format = None if message_format == DEFAULT_MESSAGE_FORMAT else message_format
        self.kinds = kinds if kinds is not None else Kinds()
        self.data = View(data) if data else EMPTY_DATA
        self._has_data = bool(data)
        self.digest = digest
        self.source = source
        self.decisions: dict[str, Rule] = {
            r.path: r for r in self.rules if r.type == "decision" and r.path
        }
        self._index: dict[
            tuple[str, str, str, str, tuple[str, str, str]],
            tuple[tuple[Binding, ...], tuple[Binding, ...]],
        ] = {}
        reads = [kind for rule in self.rules for kind in rule.reads]
        if any(r.match is not None and r.match.namespace_selector for r in self.rules):
            reads.append(NAMESPACES)  # the webhook learns namespace labels from the cache
        self.reads: tuple[KindPattern, ...] = tuple(dict.fromkeys(reads))

    def with_rules(self, rules: Iterable[Rule]) -> PolicySet:
        """The same set (data, digest, source, kinds, message format) with other rules
        (stand-ins, wrappers)."""
        return PolicySet(
            rules,
            data=self.data.raw,
            digest=self.digest,
            source=self.source,
            kinds=self.kinds,
            message_format=self.message_format,
            exceptions=self.exceptions,
            bundles=self.bundles,
        )

    def with_message_format(self, message_format: str | None) -> PolicySet:
        """The same set with denials and warnings worded by `message_format`."""
        return PolicySet(
            self.rules,
            data=self.data.raw,
            digest=self.digest,
            source=self.source,
            kinds=self.kinds,
            message_format=message_format,
            exceptions=self.exceptions,
            bundles=self.bundles,
        )

    def exceptions_for(self, rule: Rule) -> tuple[PolicyException, ...]:
        """The exceptions naming `rule` (in force or not)."""
        if not self.exceptions or rule.type != "validate":
            return ()
        return tuple(e for e in self.exceptions if e.covers_rule(rule.policy, rule.name))

    def bindings_for(self, request: Request) -> tuple[Binding, ...]:
        """The rules that apply to the request's kind, mutations first, in bundle order."""
        mutations, validations = self._split(request)
        return mutations + validations

    def _split(self, request: Request) -> tuple[tuple[Binding, ...], tuple[Binding, ...]]:
        """(mutations, validations) that apply to the request's kind, cached per kind."""
        group, version, kind = request.kind
        key = (group, version, kind, request.subresource, request.resource)
        found = self._index.get(key)
        if found is None:
            bound = self._bind(*key)
            found = (
                tuple(b for b in bound if b.rule.type == "mutate"),
                tuple(b for b in bound if b.rule.type == "validate"),
            )
            if len(self._index) < _CACHE_LIMIT:
                self._index[key] = found
        return found

    def _bind(
        self, group: str, version: str, kind: str, subresource: str, resource: tuple[str, str, str]
    ) -> tuple[Binding, ...]:
        template_keys = POD_TEMPLATES.get((group, kind)) if not subresource else None
        bound: list[Binding] = []
        for rule in self.rules:
            if rule.match is None:
                continue
            excepting = self.exceptions_for(rule)
            for pattern in rule.match.kinds:
                if pattern.selects(group, version, kind, subresource, resource):
                    bound.append(Binding.of(rule, exceptions=excepting))
                    break
                if (
                    template_keys
                    and pattern.kind == "Pod"
                    and not pattern.subresource
                    and pattern.covers("", "v1", "Pod")
                ):
                    prefix = TEMPLATE_PREFIX[(group, kind)]
                    bound.append(Binding.of(rule, template_keys, prefix, excepting))
                    break
        bound.sort(key=lambda b: b.rule.type != "mutate")  # stable: mutations first
        return tuple(bound)

    def __repr__(self) -> str:
        return f"PolicySet({len(self.rules)} rules, digest={self.digest[:12]!r})"


def evaluate(
    policy_set: PolicySet, request: Request, *, phase: Phase = "all", rule_patches: bool = False
) -> Decision:
    """Decide about one request: run matching mutations (unless `phase="validate"`), then the
    validations on the mutated object (unless `phase="mutate"`).

    `rule_patches` records each mutation's own patch on its result, at the cost of one patch
    computation per mutation (offline tools show them; the webhook needs only the whole)."""
    start = perf_counter_ns()
    mutations, validations = policy_set._split(request)
    request = request.with_data(policy_set.data)  # rules read the data of the set judging them
    results: list[RuleResult] = []
    patch: list[dict[str, Any]] = []
    if mutations and phase != "validate" and isinstance(request.raw_object, dict):
        mutated = _mutate(list(mutations), request, results, rule_patches)
        patch = make_patch(request.raw_object, mutated)
        if patch:
            request = with_object(request, mutated)
    if phase != "mutate":
        for binding in validations:
            result = _validate(binding, request)
            if result is not None:
                results.append(result)
    return decide(results, patch, perf_counter_ns() - start, policy_set.message_format)


def timed_out(policy_set: PolicySet, request: Request, seconds: float) -> Decision:
    """The decision when the rule timeout struck outside any rule (each rule that overran
    recorded its own error): deny if a matching enforced rule fails closed, else allow."""
    fail_closed = any(
        b.rule.action == "enforce" and b.rule.on_error == "deny"
        for b in policy_set.bindings_for(request)
    )
    result = RuleResult(
        "admit",
        "deadline",
        "error",
        "enforce",
        duration_ns=int(seconds * 1e9),
        error=f"evaluation exceeded the {seconds:g}s rule timeout",
        on_error="deny" if fail_closed else "allow",
    )
    return decide([result])


def _subject(binding: Binding, request: Request, obj: Any) -> Request | None:
    if binding.keys is None:
        return request
    template = template_of(obj, binding.keys)
    old = template_of(request.raw_old_object, binding.keys)
    if template is None and old is None:
        return None
    return request.for_template(binding.prefix, template, old)


def _validate(binding: Binding, request: Request) -> RuleResult | None:
    rule = binding.rule
    if binding.keys is None:
        subject = request
    else:
        template_subject = _subject(binding, request, request.raw_object)
        if template_subject is None:
            return None
        subject = template_subject
    operations = binding.operations
    if operations is None:
        assert rule.match is not None
        admitted = rule.match.admits(subject)
    else:
        admitted = not operations or subject.operation in operations
    if not admitted:
        return RuleResult(rule.policy, rule.name, "skip", rule.action, on_error=rule.on_error)
    start = perf_counter_ns()
    try:
        returned = rule.func(subject, **rule.arguments)
        if type(returned) is GeneratorType:  # the common shape of a rule: a passing one is fast
            found = tuple(returned)
            violations = _collect(found) if found else ()
        else:
            violations = _violations(rule, returned)
    except RULE_FAILURES as exc:
        return _error(rule, exc, perf_counter_ns() - start)
    elapsed = perf_counter_ns() - start
    if not violations:  # `_make` (positional): the keyword `__new__` costs ~1 µs a rule more
        return RuleResult._make(
            (
                rule.policy,
                rule.name,
                "pass",
                rule.action,
                (),
                elapsed,
                None,
                None,
                None,
                rule.on_error,
                (),
                None,
            ),
        )
    if (
        rule.existing == "warn"
        and rule.action == "enforce"
        and subject.operation == "UPDATE"
        and any(v.level == "deny" for v in violations)
    ):
        violations = _spare_existing(binding, request, violations)
    if binding.prefix:
        violations = tuple(
            Violation(
                v.message, binding.prefix + v.path if v.path else binding.prefix[:-1], v.level
            )
            for v in violations
        )
    if binding.exceptions:  # the object's own exception, if one in force covers it
        exception = applying(binding.exceptions, request)
        if exception is not None:
            return RuleResult(
                rule.policy, rule.name, "excepted", rule.action, violations, elapsed,
                on_error=rule.on_error, exception=exception,
            )  # fmt: skip
    outcome: Outcome = "fail" if any(v.level == "deny" for v in violations) else "warn"
    return RuleResult(
        rule.policy, rule.name, outcome, rule.action, violations, elapsed, on_error=rule.on_error
    )


EXISTING_NOTE = " (an existing violation: the object had it before this update)"


def _spare_existing(
    binding: Binding, request: Request, violations: tuple[Violation, ...]
) -> tuple[Violation, ...]:
    """On an UPDATE, the violations the old object already had become warnings (Kyverno's
    allowExistingViolations, per violation: same message and path), so a label change or a
    controller's scale of an object that predates a policy is not denied; new ones still deny.
    The rule runs a second time, on the old object, only when it denied the new one."""
    old = request.raw_old_object
    if binding.keys is None:
        before: Request | None = with_object(request, old) if isinstance(old, dict) else None
    else:
        template = template_of(old, binding.keys)
        before = request.for_template(binding.prefix, template, template) if template else None
    if before is None:
        return violations
    rule = binding.rule
    try:
        returned = rule.func(before, **rule.arguments)
        found = _collect(returned) if type(returned) is GeneratorType else _violations(
            rule, returned
        )  # fmt: skip
    except RULE_FAILURES:
        return violations  # what the old object had cannot be told: the new one is judged alone
    had = {(v.message, v.path) for v in found if v.level == "deny"}
    return tuple(
        Violation(v.message + EXISTING_NOTE, v.path, "warn")
        if v.level == "deny" and (v.message, v.path) in had
        else v
        for v in violations
    )


def _violations(rule: Rule, returned: Any) -> tuple[Violation, ...]:
    """Normalise what a rule returned into violations (`_validate` collects generators)."""
    if returned is None or returned is True:
        return ()
    if returned is False:
        return (Violation(rule.description or f"rule {rule.key} failed"),)
    if isinstance(returned, str):
        return (Violation(returned),)
    if isinstance(returned, Violation):
        return (returned,)
    if isinstance(returned, Iterable) and not isinstance(returned, (bytes, Mapping)):
        return _collect(returned)
    raise TypeError(_bad_return(returned))


def _collect(items: Iterable[Any]) -> tuple[Violation, ...]:
    found = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            found.append(Violation(item))
        elif isinstance(item, Violation):
            found.append(item)
        else:
            raise TypeError(_bad_return(item))
    return tuple(found)


def _bad_return(value: Any) -> str:
    return (
        f"a rule returns or yields None, str or admit.Violation; got {type(value).__name__} "
        f"{value!r:.60}"
    )


def _error(rule: Rule, exc: BaseException, elapsed: int) -> RuleResult:
    text = f"{type(exc).__name__}: {exc}"
    return RuleResult(
        rule.policy,
        rule.name,
        "error",
        rule.action,
        (),
        elapsed,
        error=text[:500],
        location=error_location(exc, rule),
        traceback=traceback.format_exc(),
        on_error=rule.on_error,
    )


def error_location(exc: BaseException, rule: Rule) -> str | None:
    """`file:line` of the deepest frame in policy code (outside admit itself, or in the
    policy library that ships with it)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        name = frame.filename
        if not name.startswith(_ADMIT_DIR) or name.startswith(_LIBRARY_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return f"{rule.file}:{rule.line}" if rule.file else None


def _mutate(
    bindings: list[Binding], request: Request, results: list[RuleResult], rule_patches: bool
) -> Any:
    """Run mutations in order on a private copy; a rule that raises leaves no change behind."""
    working = copy_json(request.raw_object)
    for binding in bindings:
        rule = binding.rule
        assert rule.match is not None
        current = with_object(request, working)
        subject = _subject(binding, current, working)
        if subject is None:
            continue
        if not rule.match.admits(subject):
            results.append(
                RuleResult(rule.policy, rule.name, "skip", rule.action, on_error=rule.on_error)
            )
            continue
        snapshot = copy_json(working)
        start = perf_counter_ns()
        try:
            working = _apply_mutation(binding, subject, working)
        except RULE_FAILURES as exc:
            working = snapshot
            results.append(_error(rule, exc, perf_counter_ns() - start))
            continue
        elapsed = perf_counter_ns() - start
        results.append(
            RuleResult(
                rule.policy,
                rule.name,
                "pass",
                rule.action,
                (),
                elapsed,
                on_error=rule.on_error,
                patch=tuple(make_patch(snapshot, working)) if rule_patches else (),
            )
        )
    return working


def _apply_mutation(binding: Binding, subject: Request, working: dict[str, Any]) -> Any:
    if binding.keys is None:
        obj = MutableObject(working, subject)
        _drain(binding.rule(obj))
        return dict(obj)
    template = template_of(working, binding.keys)
    assert template is not None
    had_metadata = "metadata" in template
    pod = MutableObject(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": template.get("metadata") or {},
            "spec": template.get("spec") or {},
        },
        subject,
    )
    _drain(binding.rule(pod))
    if had_metadata or pod.get("metadata"):
        template["metadata"] = pod.get("metadata")
    template["spec"] = pod.get("spec")
    return working


def _drain(returned: Any) -> None:
    if returned is not None and not isinstance(returned, (str, bytes, Mapping)):
        for _ in returned if isinstance(returned, Iterable) else ():
            pass
