"""admit's pytest plugin (the `admit` entry of `pytest11`): pytest collects a bundle's
`*_test.yaml` files, one test item per case, so `pytest my-bundle/` runs what
`admit test my-bundle` runs and reports each failure with the same diff.

A test file belongs to the nearest directory above it that holds `admit.yaml`, or else to the
nearest that holds a rule module; files with neither above them are not collected. Set
`admit_yaml_cases = false` in the pytest ini to turn collection off. Imports of admit's
loading code wait until a test file is found, so other projects' test runs stay unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from admit.core.errors import Problem
    from admit.testing.cases import Case
    from admit.testing.runner import CaseResult, Runner

SUFFIXES = ("_test.yaml", "_test.yml")
_RUNNERS = pytest.StashKey[dict[Path, "Runner"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "admit_yaml_cases",
        type="bool",
        default=True,
        help="collect admit's *_test.yaml test cases inside policy bundles",
    )


def bundle_root(path: Path, stop: Path | None = None) -> Path | None:
    """The bundle a test file belongs to: the nearest directory above it with `admit.yaml`,
    else the nearest with a rule module; None when there is neither (up to `stop`)."""
    from admit.loading.loader import _is_rule_module

    with_modules: Path | None = None
    for directory in path.resolve().parents:
        if (directory / "admit.yaml").is_file():
            return directory
        if with_modules is None and any(
            p.is_file() and _is_rule_module(p) for p in directory.glob("*.py")
        ):
            with_modules = directory
        if stop is not None and directory == stop:
            break
    return with_modules


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith(SUFFIXES) or not parent.config.getini("admit_yaml_cases"):
        return None
    root = bundle_root(file_path, parent.config.rootpath.resolve())
    if root is None:
        return None
    collector: pytest.Collector = CaseFileCollector.from_parent(parent, path=file_path, root=root)
    return collector


class CasesFailed(Exception):
    """A case did not meet its expectations (the report is its message)."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.report())
        self.result = result


class InvalidCaseFile(Exception):
    """The test file (or its `config`) has problems; each is one line of the message."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))


class CaseFileCollector(pytest.File):
    """One `*_test.yaml` file: its cases, run against the bundle it belongs to."""

    def __init__(self, *, root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root

    def _runner(self) -> Runner:
        from admit.loading.loader import load_bundle
        from admit.testing.runner import Runner

        runners = self.config.stash.setdefault(_RUNNERS, {})
        if self.root not in runners:
            runners[self.root] = Runner(load_bundle(self.root))  # BundleError: a collect error
        return runners[self.root]

    def collect(self) -> Iterator[pytest.Item]:
        from admit.testing.cases import read_case_file

        runner = self._runner()
        case_file, problems = read_case_file(self.path, self.root)
        if case_file is not None:
            problems += runner.prepare(case_file)
        if problems or case_file is None:
            raise InvalidCaseFile(problems)
        for case in case_file.cases:
            yield CaseItem.from_parent(self, name=case.name, case=case, runner=runner)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from admit.core.errors import BundleError

        if isinstance(excinfo.value, (InvalidCaseFile, BundleError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One test case of a `*_test.yaml` file."""

    def __init__(self, *, case: Case, runner: Runner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.runner = runner

    def runtest(self) -> None:
        result = self.runner.run(self.case)
        if result.outcome != "passed":
            raise CasesFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CasesFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.case.file}::{self.name}"
