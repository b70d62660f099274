"""`--include` and `--exclude` globs for the files `admit check` reads, as .gitignore reads them.

A glob without `/` matches a file or directory name at any depth (`Chart.yaml`, `values*.yaml`,
`templates`); one with `/` matches the path from the directory named on the command line, or
the path as given (`charts/*/templates`, `deploy/**/*.yaml`). `*` and `?` never cross a `/`,
`**` crosses any number of directories. Excluding a directory excludes everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@cache
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression a glob stands for (anchored at both ends)."""
    return re.compile(_translate(pattern.removeprefix("./").rstrip("/")) + r"\Z")


def _normal(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def matches(pattern: str, path: str) -> bool:
    """Whether `path` (relative, `/`-separated) or one of the directories above it matches."""
    path = _normal(path)
    glob = compile_glob(pattern)
    if "/" not in pattern.rstrip("/"):
        return any(glob.match(part) for part in path.split("/"))
    parts = path.split("/")
    return any(glob.match("/".join(parts[:depth])) for depth in range(1, len(parts) + 1))


def _names(pattern: str, path: str) -> bool:
    """Whether the file at `path` itself is what `pattern` names (its name, or its path)."""
    path = _normal(path)
    if "/" not in pattern:
        path = path.rsplit("/", 1)[-1]
    return compile_glob(pattern).match(path) is not None


@dataclass(frozen=True, slots=True)
class PathFilter:
    """Which files to read: those an `include` glob matches (by default, in directories, the
    given suffixes), minus those an `exclude` glob matches."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = field(default=())

    def _excluded(self, paths: Iterable[str]) -> bool:
        return any(matches(p, path) for p in self.exclude for path in paths)

    def prunes(self, directory: str) -> bool:
        """Whether a directory (relative to the one named) is excluded whole."""
        return self._excluded((directory,))

    def admits(self, relative: str, given: str, suffixes: frozenset[str] | None = None) -> bool:
        """Whether to read a file: `relative` to the directory named, `given` as found."""
        paths = (relative, given)
        if self._excluded(paths):
            return False
        if self.include:
            return any(_names(p, path) for p in self.include for path in paths)
        return suffixes is None or any(given.endswith(s) for s in suffixes)
