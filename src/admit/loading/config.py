"""`admit.yaml`: per-policy and per-rule overrides of parameters, action, on_error and enabled
(and `kinds:`, the custom resources rules may name: see `admit.loading.kinds`).

parameters:                  # given to every rule of the bundle that has the parameter
  version: v1.30
policies:
  trusted-images:            # the policy (module) name; `_` and `-` are interchangeable
    action: warn             # default for every rule of the module
    parameters:              # given to every rule of the module that has the parameter
      repo_prefix: registry.example.com
    rules:
      disallow_latest_tag:
        action: enforce
        on_error: allow
        existing: deny       # on UPDATE, deny even what the old object already violated
        severity: high       # what policy reports say of its failures (also per policy)
        category: Images
        enabled: false
        parameters: {}

A rule's own parameters win over its policy's, which win over the bundle's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from admit.core.errors import Problem
from admit.core.outcome import ACTIONS, EXISTING, ON_ERROR, SEVERITIES
from admit.core.params import check_arguments
from admit.core.rules import Rule
from admit.loading.yamlfile import LineDict

_TOP_KEYS = frozenset({"policies", "kinds", "parameters"})  # kinds: see admit.loading.kinds
_RULE_KEYS = frozenset(
    {"action", "on_error", "existing", "parameters", "enabled", "severity", "category"}
)
_POLICY_KEYS = _RULE_KEYS | {"rules"}


def normalise(name: str) -> str:
    return name.replace("_", "-")


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, where: Any, key: Any, code: str, message: str) -> None:
        line = where.line_of(key) if isinstance(where, LineDict) else None
        self.problems.append(Problem(self.path, line, code, message))

    def mapping(self, parent: Any, key: Any, value: Any, what: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(parent, key, "invalid_config", f"{what} must be a mapping")
            return {}
        return value

    def keys(self, mapping: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.add(
                    mapping,
                    key,
                    "invalid_config",
                    f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                )


def _with_bundle_parameters(
    rules: list[Rule], top: Mapping[str, Any], check: _Checker
) -> list[Rule]:
    """`rules` with the bundle-wide `parameters:` given to each rule that has them (each problem
    reported once, however many rules share the parameter)."""
    shared = check.mapping(top, "parameters", top.get("parameters"), "parameters")
    if not shared:
        return rules
    reported: set[tuple[str, str]] = set()
    result = []
    for rule in rules:
        names = {p.name for p in rule.params}
        mine = {k: v for k, v in shared.items() if k in names}
        if mine:
            arguments, problems = check_arguments(rule, mine)
            for param, message in problems:
                general = message.replace(f" of rule {rule.key}", "")
                if (param, general) not in reported:
                    reported.add((param, general))
                    check.add(shared, param, "invalid_parameter", general)
            rule = rule.configured(arguments=arguments)
        result.append(rule)
    for param in shared:
        if not any(param in {p.name for p in r.params} for r in rules):
            message = f"no rule of the bundle has a parameter {param!r}"
            check.add(shared, param, "unknown_parameter", message)
    return result


def apply_config(rules: list[Rule], config: Any, path: str) -> tuple[list[Rule], list[Problem]]:
    """`rules` with the overrides of a parsed `admit.yaml` applied, and every problem found."""
    return apply_layers(rules, [(config, path)])


def apply_layers(
    rules: list[Rule], layers: Sequence[tuple[Any, str]]
) -> tuple[list[Rule], list[Problem]]:
    """`rules` with each layer of overrides (a parsed admit.yaml-shaped mapping and where it
    came from: `admit.yaml`, a `--config` file, a `--set`) applied in order, later layers
    winning, and every problem found. A rule one layer disables, a later one may enable."""
    result = list(rules)
    enabled: dict[int, bool] = {}
    problems: list[Problem] = []
    for config, path in layers:
        problems += _apply(result, enabled, config, path)
    return [r for i, r in enumerate(result) if enabled.get(i, True)], problems


def _apply(result: list[Rule], enabled: dict[int, bool], config: Any, path: str) -> list[Problem]:
    """Apply one layer to `result` in place, recording explicit `enabled` settings."""
    check = _Checker(path)
    top = check.mapping(None, None, config, "admit.yaml")
    check.keys(top, _TOP_KEYS, "admit.yaml")
    policies = check.mapping(top, "policies", top.get("policies"), "policies")
    by_policy: dict[str, list[int]] = {}
    for i, rule in enumerate(result):
        by_policy.setdefault(rule.policy, []).append(i)
    result[:] = _with_bundle_parameters(result, top, check)
    known_policies = ", ".join(sorted(by_policy)) or "none"
    for policy_key, policy_conf in policies.items():
        name = normalise(str(policy_key))
        if name not in by_policy:
            check.add(
                policies,
                policy_key,
                "unknown_policy",
                f"no policy {name!r} in the bundle (policies: {known_policies})",
            )
            continue
        conf = check.mapping(policies, policy_key, policy_conf, f"policy {name}")
        check.keys(conf, _POLICY_KEYS, f"policy {name}")
        indices = by_policy[name]
        shared_params = check.mapping(conf, "parameters", conf.get("parameters"), "parameters")
        for param in shared_params:
            if not any(param in {p.name for p in result[i].params} for i in indices):
                check.add(
                    shared_params,
                    param,
                    "unknown_parameter",
                    f"no rule of policy {name} has a parameter {param!r}",
                )
        rule_confs = check.mapping(conf, "rules", conf.get("rules"), "rules")
        names = {result[i].name: i for i in indices}
        for rule_key in rule_confs:
            if str(rule_key) not in names:
                check.add(
                    rule_confs,
                    rule_key,
                    "unknown_rule",
                    f"policy {name} has no rule {rule_key!r} (rules: {', '.join(names)})",
                )
        for rule_name, i in names.items():
            rule_conf = check.mapping(rule_confs, rule_name, rule_confs.get(rule_name), "a rule")
            check.keys(rule_conf, _RULE_KEYS, f"rule {name}/{rule_name}")
            rule = result[i]
            merged = {k: v for k, v in shared_params.items() if k in {p.name for p in rule.params}}
            rule_params = check.mapping(
                rule_conf, "parameters", rule_conf.get("parameters"), "parameters"
            )
            merged.update(rule_params)
            arguments, problems = check_arguments(rule, merged)
            for param, message in problems:
                where = rule_params if param in rule_params else shared_params
                check.add(where, param, "invalid_parameter", message)
            changes: dict[str, Any] = {"arguments": arguments}
            choices = (
                ("action", ACTIONS),
                ("on_error", ON_ERROR),
                ("existing", EXISTING),
                ("severity", SEVERITIES),
            )
            for field, allowed in choices:
                value = rule_conf.get(field, conf.get(field))
                if value is None:
                    continue
                if value not in allowed:
                    holder = rule_conf if field in rule_conf else conf
                    check.add(
                        holder,
                        field,
                        "invalid_config",
                        f"{field} must be one of {', '.join(allowed)}, got {value!r}",
                    )
                elif rule.type != "decision":
                    changes[field] = value
            category = rule_conf.get("category", conf.get("category"))
            if category is not None and not isinstance(category, str):
                holder = rule_conf if "category" in rule_conf else conf
                check.add(holder, "category", "invalid_config", "category must be a string")
            elif category is not None and rule.type == "validate":
                changes["category"] = category
            on = rule_conf.get("enabled", conf.get("enabled"))
            if on is not None and not isinstance(on, bool):
                check.add(rule_conf, "enabled", "invalid_config", "enabled must be true or false")
            elif on is not None:
                enabled[i] = on
            result[i] = rule.configured(**changes)
    return check.problems
