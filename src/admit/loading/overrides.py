"""Parameters and settings from the command line: `--config FILE` (admit.yaml's schema) and
`--set POLICY.PARAMETER=VALUE`, layered over the bundle's own admit.yaml in that order (later
wins), checked as admit.yaml is, each problem located at the file line or the `--set` that
caused it.

    --set trusted-images.repo_prefix=registry.example.com   a parameter of every rule having it
    --set trusted-images.disallow_latest_tag.action=warn    a setting of one rule
    --set trusted-images.enabled=false                      action, on_error, enabled
    --set pss.baseline.capabilities.parameters.allowed=[]   the long form, admit.yaml's path

A value is read as YAML (`3`, `true`, `[a, b]`, `{k: v}`), except that a parameter typed `str`
takes the text as written (`--set p.tag=1.0` is "1.0"). Policy names may hold dots: the longest
known name wins.

`admit serve` carries the overrides into each policy version it publishes as the file
`OVERRIDES_FILE`, so the sandbox and every worker load exactly what `admit check` checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from admit.core.errors import InputError, Problem
from admit.core.params import accepts
from admit.core.rules import Rule
from admit.loading.config import apply_layers, normalise
from admit.loading.yamlfile import error_line, error_text, load_one

OVERRIDES_FILE = ".admit-overrides.json"  # hidden: a bundle's own files never include it
SETTINGS = frozenset({"action", "on_error", "enabled"})


@dataclass(frozen=True, slots=True)
class Overrides:
    """`--config` files (name and text, read once) and `--set` assignments, in order."""

    files: tuple[tuple[str, str], ...] = ()
    assignments: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files or self.assignments)

    @classmethod
    def read(cls, config_files: Iterable[str], assignments: Iterable[str] = ()) -> Overrides:
        """Read the `--config` files now; an unreadable one is an `InputError` (exit 2)."""
        files = []
        for name in config_files:
            try:
                files.append((name, Path(name).read_text("utf-8")))
            except FileNotFoundError:
                raise InputError("--config: no such file", path=name) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"--config: cannot read: {exc}", path=name) from None
        return cls(tuple(files), tuple(assignments))

    def dumps(self) -> bytes:
        return json.dumps(
            {"files": [list(f) for f in self.files], "set": list(self.assignments)}, indent=1
        ).encode()

    @classmethod
    def loads(cls, data: bytes, where: str) -> Overrides:
        try:
            raw = json.loads(data)
            files = tuple((str(n), str(t)) for n, t in raw["files"])
            return cls(files, tuple(str(a) for a in raw["set"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not the overrides admit writes: {exc}", path=where) from None

    def apply(self, rules: list[Rule], base: Sequence[tuple[Any, str]] = ()) -> tuple[
        list[Rule], list[Problem]
    ]:
        """`rules` with the `base` layers (the bundle's admit.yaml) and then these applied."""
        layers, problems = self.layers(rules, base)
        rules, found = apply_layers(rules, layers)
        return rules, problems + found

    def layers(
        self, rules: Sequence[Rule], base: Sequence[tuple[Any, str]] = ()
    ) -> tuple[list[tuple[Any, str]], list[Problem]]:
        """The `base` layers and these, each parsed, with where it came from."""
        layers = list(base)
        problems: list[Problem] = []
        for name, text in self.files:
            try:
                layers.append((load_one(text), name))
            except yaml.YAMLError as exc:
                problems.append(Problem(name, error_line(exc), "invalid_yaml", error_text(exc)))
        for assignment in self.assignments:
            config, problem = assignment_config(assignment, rules)
            if problem is not None:
                problems.append(problem)
            else:
                layers.append((config, f"--set {assignment}"))
        return layers, problems


def plain(value: Any) -> Any:
    """YAML as plain dicts and lists (no line-remembering dicts), for writing out."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _merge_policy(target: dict[str, Any], conf: dict[str, Any]) -> None:
    rules = target.setdefault("rules", {})
    for key, value in conf.items():
        if key == "rules":
            for name, rule_conf in _mapping(value).items():
                rule = rules.setdefault(str(name), {})
                for k, v in _mapping(rule_conf).items():
                    if k == "parameters":
                        rule.setdefault("parameters", {}).update(_mapping(v))
                    else:
                        rule[k] = v
        elif key == "parameters":
            target.setdefault("parameters", {}).update(_mapping(value))
            for rule in rules.values():  # a later policy-wide value beats earlier rule values
                for param in _mapping(value):
                    rule.get("parameters", {}).pop(param, None)
        else:
            target[key] = value
            for rule in rules.values():
                rule.pop(key, None)
    for name in [n for n, rule in rules.items() if not rule.get("parameters")]:
        rules[name].pop("parameters", None)
    for name in [n for n, rule in rules.items() if not rule]:
        del rules[name]
    if not rules:
        del target["rules"]


def merge_layers(layers: Sequence[Any]) -> dict[str, Any]:
    """One admit.yaml-shaped mapping with the effect of applying `layers` in order: what
    `admit manifests --set` writes into the bundle's ConfigMap."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in _mapping(plain(layer)).items():
            if key != "policies":
                merged[key] = value
                continue
            policies = merged.setdefault("policies", {})
            for name, conf in _mapping(value).items():
                _merge_policy(policies.setdefault(normalise(str(name)), {}), _mapping(conf))
    return merged


def _split_policy(path: list[str], policies: set[str]) -> tuple[str, list[str]] | None:
    for cut in range(len(path) - 1, 0, -1):
        name = normalise(".".join(path[:cut]))
        if name in policies:
            return name, path[cut:]
    return None


def assignment_config(assignment: str, rules: Sequence[Rule]) -> tuple[Any, Problem | None]:
    """The admit.yaml-shaped layer one `--set` stands for, or the problem with it."""
    label = f"--set {assignment}"

    def problem(message: str, code: str = "invalid_set") -> tuple[Any, Problem]:
        return None, Problem(label, None, code, message)

    key, equals, text = assignment.partition("=")
    if not equals or not key.strip():
        return problem("expected POLICY.PARAMETER=VALUE (or POLICY.RULE.PARAMETER=VALUE)")
    policies = {r.policy for r in rules}
    found = _split_policy(key.strip().split("."), policies)
    if found is None:
        known = ", ".join(sorted(policies)) or "none"
        return problem(
            f"{key!r} names no policy of the bundle and a parameter (policies: {known})",
            "unknown_policy",
        )
    policy, rest = found
    own = [r for r in rules if r.policy == policy]
    rule_names = {r.name for r in own}
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text  # not YAML: the text itself
    if rest[0] == "rules" and len(rest) > 1 and rest[1] in rule_names:
        rest = rest[1:]
    if rest[0] in rule_names and len(rest) > 1:
        rule, rest = rest[0], rest[1:]
        targets = [r for r in own if r.name == rule]
    else:
        rule, targets = None, own
    if rest[0] == "parameters" and len(rest) == 2:
        name, setting = rest[1], False
    elif len(rest) == 1:
        name = rest[0]
        setting = name in SETTINGS and not any(name in {p.name for p in r.params} for r in targets)
    else:
        return problem(f"{key!r}: after the policy, expected PARAMETER or RULE.PARAMETER")
    if not setting and not isinstance(value, str):
        # A parameter typed str takes the text as written (`1.0`, `true`, `null`, `[a]`).
        fits = [r for r in targets if any(p.name == name for p in r.params)]
        if fits and not any(accepts(r, name, value) for r in fits) and all(
            accepts(r, name, text) for r in fits
        ):
            value = text
    entry: dict[str, Any] = {name: value} if setting else {"parameters": {name: value}}
    conf: dict[str, Any] = {"rules": {rule: entry}} if rule else entry
    return {"policies": {policy: conf}}, None
