"""Loading a bundle directory into an immutable `PolicySet`, all problems in one pass.

A bundle is a directory, searched recursively: Python modules with rules (`_name.py` helpers and
the modules of `_name/` helper packages are imported only when a module imports them;
`test_*.py`, `*_test.py` and `conftest.py` are skipped), an optional `admit.yaml`, and data
files named `data.json`/`data.yaml` whose content lands in `request.data` at their directory's
path, as in OPA bundles, and policy exceptions in files named `exceptions.yaml` (see
`admit.loading.exceptions`). Every load imports the
modules under a fresh package name, so two bundles, or two versions of one, never share state.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from admit.core.engine import PolicySet
from admit.core.errors import AdmitError, BundleError, InputError, Problem
from admit.core.exceptions import PolicyException
from admit.core.kinds import ApiResource, Kinds
from admit.core.rules import Rule, collecting
from admit.loading.builtin_kinds import builtin_kinds
from admit.loading.config import apply_layers, normalise
from admit.loading.exceptions import is_exceptions_file, read_exceptions, unmatched
from admit.loading.kinds import declared_kinds, resolve_rules
from admit.loading.overrides import OVERRIDES_FILE, Overrides
from admit.loading.yamlfile import error_line, error_text, load_one

CONFIG_NAME = "admit.yaml"
DATA_NAMES = frozenset({"data.json", "data.yaml", "data.yml"})
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv"})
_counter = itertools.count(1)


def policy_name(relative: Path) -> str:
    """`pss/run_as_non_root.py` -> `pss.run-as-non-root`."""
    return ".".join(normalise(part) for part in relative.with_suffix("").parts)


def _is_rule_module(path: Path, root: Path | None = None) -> bool:
    name = path.name
    inside = path.relative_to(root).parts[:-1] if root is not None else ()
    if any(part.startswith("_") for part in inside):
        return False  # a module of a helper package
    return not (
        name.startswith(("_", "test_")) or name.endswith("_test.py") or name == "conftest.py"
    )


def bundle_files(root: Path) -> Iterator[Path]:
    """Every regular file of the bundle, sorted, skipping hidden and cache directories."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def resolved_root(root: Path) -> Path:
    """Where to read a bundle from, fixed for one load: a Kubernetes ConfigMap or Secret volume
    publishes a version by swapping its `..data` link, so that link is resolved once and every
    file is read from the version it pointed at (reading through it file by file could mix
    two versions)."""
    link = root / "..data"
    if link.is_symlink():
        return root / os.readlink(link)
    return root


def digest_of(root: Path, files: list[Path]) -> str:
    """A content hash of the bundle: relative names and bytes of every file."""
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class _Load:
    """One load of one bundle; collects problems instead of stopping at the first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.package = f"_admit_bundle_{next(_counter)}"
        self._abs_root = os.path.abspath(root) + os.sep
        self._real_root = os.path.realpath(root) + os.sep

    def rel(self, path: Path | str) -> str:
        """`path` relative to the bundle, as named there (links into `..data` not resolved)."""
        for base, target in (
            (self._abs_root, os.path.abspath(path)),
            (self._real_root, os.path.realpath(path)),
        ):
            if target.startswith(base):
                return Path(target[len(base) :]).as_posix()
        return str(path)

    def problem(self, path: Path | str, line: int | None, code: str, message: str) -> None:
        self.problems.append(Problem(self.rel(path), line, code, message))

    # --- modules ---------------------------------------------------------------------------
    def import_modules(self, modules: list[Path]) -> list[Rule]:
        package = ModuleType(self.package)
        package.__path__ = [str(self.root)]
        package.__package__ = self.package
        sys.modules[self.package] = package
        before = set(sys.modules)
        try:
            with collecting() as registry:
                for path in modules:
                    self._import(path)
            return list(registry)
        finally:
            for name in set(sys.modules) - before:
                if name == self.package or name.startswith(self.package + "."):
                    del sys.modules[name]
            del sys.modules[self.package]

    def _import(self, path: Path) -> None:
        parts = path.relative_to(self.root).with_suffix("").parts
        name = ".".join((self.package, *parts))
        for depth in range(1, len(parts)):  # namespace packages for subdirectories
            sub = ".".join((self.package, *parts[:depth]))
            if sub not in sys.modules:
                module = ModuleType(sub)
                module.__path__ = [str(self.root.joinpath(*parts[:depth]))]
                sys.modules[sub] = module
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            self.problem(path, None, "import_error", "cannot be imported as a Python module")
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            where = exc.filename or path
            self.problem(where, exc.lineno, "syntax_error", exc.msg)
        except AdmitError as exc:  # a decorator refused its arguments
            self.problem(*self._where(exc, path), exc.code, str(exc))
        except (Exception, SystemExit) as exc:  # a module may call sys.exit() at import
            self.problem(*self._where(exc, path), "import_error", f"{type(exc).__name__}: {exc}")

    def _where(self, exc: BaseException, path: Path) -> tuple[str, int | None]:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if os.path.abspath(frame.filename).startswith(self._abs_root):
                return frame.filename, frame.lineno
        return str(path), None

    def assign_policies(self, rules: list[Rule]) -> list[Rule]:
        named = []
        seen: dict[tuple[str, str], Rule] = {}
        paths: dict[str, Rule] = {}
        for rule in rules:
            policy = policy_name(Path(self.rel(rule.file)))
            rule = rule.configured(policy=policy)
            if (policy, rule.name) in seen:
                self.problem(
                    rule.file,
                    rule.line,
                    "duplicate_rule",
                    f"policy {policy} already has a rule named {rule.name!r}",
                )
                continue
            if rule.path is not None and rule.path in paths:
                self.problem(
                    rule.file,
                    rule.line,
                    "duplicate_decision",
                    f"decision path {rule.path!r} is already served by {paths[rule.path].key}",
                )
                continue
            seen[(policy, rule.name)] = rule
            if rule.path is not None:
                paths[rule.path] = rule
            named.append(rule)
        return named

    # --- config and data -------------------------------------------------------------------
    def read_yaml(self, path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                return json.loads(text)
            return load_one(text)
        except json.JSONDecodeError as exc:
            self.problem(path, exc.lineno, "invalid_json", exc.msg)
        except yaml.YAMLError as exc:
            self.problem(path, error_line(exc), "invalid_yaml", error_text(exc))
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, None, "unreadable", str(exc))
        return None

    def overrides(self, path: Path) -> Overrides:
        try:
            return Overrides.loads(path.read_bytes(), OVERRIDES_FILE)
        except FileNotFoundError:
            return Overrides()
        except (OSError, InputError) as exc:
            self.problem(path, None, "invalid_overrides", str(exc))
            return Overrides()

    def exceptions(self, files: list[Path], kinds: Kinds) -> list[PolicyException]:
        texts = []
        for path in files:
            try:
                texts.append((self.rel(path), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                self.problem(path, None, "unreadable", str(exc))
        found, problems = read_exceptions(texts, kinds)
        self.problems.extend(problems)
        return found

    def data(self, files: list[Path]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for path in files:
            content = self.read_yaml(path)
            if content is None:
                continue
            where = path.parent.relative_to(self.root).parts
            node = document
            for part in where:
                node = node.setdefault(part, {})
            if not isinstance(content, dict) or not isinstance(node, dict):
                if where or not isinstance(content, dict):
                    self.problem(path, None, "invalid_data", "a data file must hold a mapping")
                continue
            for key, value in content.items():
                if key in node:
                    self.problem(
                        path,
                        None,
                        "data_conflict",
                        f"key {key!r} is already defined by another data file",
                    )
                else:
                    node[key] = value
        return document


def load_bundle(
    path: str | os.PathLike[str],
    *,
    allow_empty: bool = False,
    kinds: Iterable[ApiResource] = (),
    overrides: Overrides | None = None,
) -> PolicySet:
    """Load the bundle at `path`; raises `BundleError` listing every problem found.

    `overrides` (`--config`, `--set`) apply over the bundle's admit.yaml; without them, those a
    published policy version carries in its `OVERRIDES_FILE` do.

    Rules' kinds are resolved against the API's built-in kinds, the custom resources the
    bundle's admit.yaml declares, and `kinds` (a cluster's discovery, say): a kind none of them
    has is a problem. A bundle without rules is a problem unless `allow_empty` (one ConfigMap of
    several may hold only helpers or data)."""
    root = Path(path)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        raise BundleError(
            [
                Problem(
                    str(root),
                    None,
                    "not_a_bundle",
                    f"{what}; a bundle is a directory of .py rule modules",
                )
            ]
        )
    load = _Load(root)
    files = list(bundle_files(root))
    modules = [p for p in files if p.suffix == ".py" and _is_rule_module(p, root)]
    data_files = [p for p in files if p.name in DATA_NAMES]
    config_path = root / CONFIG_NAME
    rules = load.assign_policies(load.import_modules(modules))
    config = load.read_yaml(config_path) if config_path.is_file() else None
    builtin = builtin_kinds()
    declared, problems = declared_kinds(config, CONFIG_NAME, builtin)
    extra = [*kinds, *declared]
    known = builtin + extra if extra else builtin
    load.problems.extend(problems)
    rules, problems = resolve_rules(rules, known, load.rel)
    load.problems.extend(problems)
    if overrides is None:
        overrides = load.overrides(root / OVERRIDES_FILE)
    base = [(config, CONFIG_NAME)] if config_path.is_file() else []
    if overrides and not load.problems:  # a bundle that imports whole: every policy is known
        rules, problems = overrides.apply(rules, base)
        load.problems.extend(problems)
    elif base and (config is not None or not load.problems):
        rules, problems = apply_layers(rules, base)
        load.problems.extend(problems)
    data = load.data(data_files)
    exceptions = load.exceptions([p for p in files if is_exceptions_file(p)], known)
    if exceptions and not allow_empty and not load.problems:
        load.problems.extend(unmatched(exceptions, rules))
    if load.problems:
        first_seen = {p.path: i for i, p in reversed(list(enumerate(load.problems)))}
        raise BundleError(sorted(load.problems, key=lambda p: (first_seen[p.path], p.line or 0)))
    if not rules and not allow_empty:
        raise BundleError(
            [
                Problem(
                    str(root),
                    None,
                    "empty_bundle",
                    "no rules found: declare them with "
                    "@admit.validate, @admit.mutate or @admit.decision",
                )
            ]
        )
    return PolicySet(
        rules,
        data=data,
        digest=digest_of(root, files),
        source=str(root),
        kinds=known,
        exceptions=exceptions,
    )
