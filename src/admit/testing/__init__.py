"""Testing rules with plain pytest: build a policy set from functions, a request from a
manifest, and evaluate.

    from admit.testing import check
    decision = check(pod_manifest, trusted_registry)
    assert decision.denials == ("nginx:1.21.1 repo not start with 192.168.64.1",)

and run a bundle's YAML test cases (`*_test.yaml`) from a plain test:

    from admit.testing import run_cases
    def test_policies(): run_cases("policies/")

The package also holds what `admit test` is made of: the case format (`cases.py`), the runner
that compares conclusions with expectations (`runner.py`) and the pytest plugin that collects
`*_test.yaml` files (`pytest_plugin.py`). None of it imports the server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from admit.core.cluster import Cluster
from admit.core.decision import Decision
from admit.core.engine import PolicySet, evaluate
from admit.core.kinds import Kinds
from admit.core.offline import review_of
from admit.core.review import Request
from admit.core.rules import Rule, rules_of

if TYPE_CHECKING:
    from admit.testing.runner import Report

__all__ = ["check", "policy_set", "request", "run_cases"]


def policy_set(
    *functions: Callable[..., Any],
    data: Mapping[str, Any] | None = None,
    policy: str = "test",
) -> PolicySet:
    """A policy set of the rules declared on `functions` (decorated with admit's decorators),
    their kinds resolved against the API's built-in kinds as a bundle's are (`UnknownKind` for
    a kind Kubernetes does not have)."""
    from admit.loading.builtin_kinds import builtin_kinds

    kinds = builtin_kinds()
    rules: list[Rule] = []
    for function in functions:
        declared = rules_of(function)
        if not declared:
            raise ValueError(f"{function.__name__} is not declared as a rule (use @admit.validate)")
        rules.extend(_resolved(r.configured(policy=r.policy or policy), kinds) for r in declared)
    return PolicySet(rules, data=data, kinds=kinds)


def _resolved(rule: Rule, kinds: Kinds) -> Rule:
    if rule.match is None:
        return rule
    return rule.configured(
        match=rule.match.with_kinds(kinds.resolve(p) for p in rule.match.kinds),
        reads=tuple(kinds.resolve_read(p) for p in rule.reads),
    )


def request(
    obj: Mapping[str, Any] | None,
    *,
    operation: str = "CREATE",
    namespace: str = "default",
    old_object: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    namespace_labels: Mapping[str, str] | None = None,
    cluster: Iterable[Mapping[str, Any]] = (),
) -> Request:
    """The request kube-apiserver would send for `obj` (on DELETE, `obj` is what is deleted);
    bundle data comes from the policy set that evaluates it: `policy_set(..., data=...)`."""
    from admit.loading.builtin_kinds import builtin_kinds

    return review_of(
        obj,
        kinds=builtin_kinds(),
        operation=operation,
        namespace=namespace,
        old_object=old_object,
        user=user,
        cluster=Cluster.of(cluster),
        namespace_labels=namespace_labels,
    )


def check(obj: Mapping[str, Any] | None, *functions: Callable[..., Any], **kwargs: Any) -> Decision:
    """Evaluate the rules declared on `functions` against `obj`; `kwargs` go to `request`."""
    data = kwargs.pop("data", None)
    return evaluate(policy_set(*functions, data=data), request(obj, **kwargs))


def run_cases(bundle: str | os.PathLike[str], *, select: str | None = None) -> Report:
    """Run the YAML test cases stored in `bundle` as `admit test` does, and return the report.

    Raises `AssertionError` describing every failure (or that there was nothing to run), so a
    plain pytest test can be the single line `run_cases("policies/")`. A bundle that does not
    load raises its `BundleError`.
    """
    from admit.testing.runner import run_bundle

    report = run_bundle(bundle, select=select)
    if not report.results and not report.problems:
        raise AssertionError(f"no test cases found in {bundle} (files named *_test.yaml)")
    if not report.ok:
        lines = [str(p) for p in report.problems]
        for result in report.results:
            if result.outcome != "passed":
                lines += [f"{result.case.id}:", *(f"  {x}" for x in result.report().splitlines())]
        raise AssertionError(
            f"{report.count('failed') + report.count('error')} of {len(report.results)} test "
            f"cases failed in {bundle}\n" + "\n".join(lines)
        )
    return report
