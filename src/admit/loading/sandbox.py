"""Loading a new version where it cannot hurt the server: a process of its own, with limits.

A bundle is code, and its modules run when they are imported: one may call `sys.exit()` or
`os._exit()`, loop forever, fork, or eat memory at import. So before a version is published,
`vet` loads it in a fresh interpreter (`python -m admit.loading.sandbox`), in a session of its
own, with a time limit and an address-space limit, and reads a JSON report back on a pipe. A
bundle that exits, hangs or crashes there is a failed load, reported like a syntax error; the
sandbox and anything it forked are killed afterwards. Workers then import only versions that
loaded here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from admit.core.errors import BundleError, Problem
from admit.loading.versions import Part, read_manifest

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY = 2 * 1024**3  # bytes of address space for the loading process


@dataclass(frozen=True, slots=True)
class PartReport:
    """How one part of a version loaded."""

    part: Part
    problems: tuple[Problem, ...] = ()
    rules: tuple[str, ...] = ()
    reads: tuple[list[Any], ...] = ()  # `KindPattern.record()`s

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Report:
    """The sandbox's verdict on a snapshot: one report per part, or a failure of the whole."""

    parts: tuple[PartReport, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.parts)

    @property
    def problems(self) -> tuple[str, ...]:
        """Every problem as text, prefixed with its part's label when the part has one."""
        return tuple(
            f"{p.part.label}: {problem}" if p.part.label else str(problem)
            for p in self.parts
            for problem in p.problems
        )

    def error(self) -> BundleError:
        """The failure as the loader would raise it (for `admit serve` at start)."""
        return BundleError(problem for p in self.parts for problem in p.problems)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(rule for p in self.parts for rule in p.rules)

    @property
    def reads(self) -> tuple[list[Any], ...]:
        unique = {orjson.dumps(kind): kind for p in self.parts for kind in p.reads}
        return tuple(unique.values())


def vet(
    snapshot: Path, *, timeout: float = DEFAULT_TIMEOUT, memory: int = DEFAULT_MEMORY
) -> Report:
    """Load every part of `snapshot` in a sandbox process; never raises for the bundle's sake."""
    parts = read_manifest(snapshot).parts
    started = time.monotonic()
    reader, writer = os.pipe()
    command = [sys.executable, "-m", __name__, str(snapshot), str(writer), str(memory)]
    command.append(str(timeout))
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: output can never block it
        process = subprocess.Popen(
            command,
            pass_fds=(writer,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,  # its own process group: killed whole, forks included
        )
        os.close(writer)
        try:
            answer = read_line(reader, started + timeout)
        finally:
            os.close(reader)
            kill_group(process)
        seconds = time.monotonic() - started
        if answer is None:
            errors.seek(max(0, errors.seek(0, os.SEEK_END) - 4000))
            output = errors.read().decode("utf-8", "replace")
            return _failed(parts, *_why_no_answer(process.returncode, output, timeout, seconds),
                           seconds)  # fmt: skip
    try:
        reports = tuple(
            PartReport(
                part,
                tuple(Problem(*problem) for problem in found["problems"]),
                tuple(found["rules"]),
                tuple(found["reads"]),
            )
            for part, found in zip(parts, orjson.loads(answer)["parts"], strict=True)
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return _failed(parts, ".", "the loading process sent a garbled report", seconds)
    return Report(reports, seconds)


def read_line(reader: int, deadline: float) -> bytes | None:
    """The line a child process writes to the pipe `reader` (its report), or None when the
    process ended or the deadline passed without one."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(reader, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(reader, 65536)
            if not chunk:
                return None  # every writer is gone: the process exited (or closed the pipe)
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)
    return None


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """End a child started in its own session, with everything it forked, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _why_no_answer(
    status: int | None, output: str, timeout: float, seconds: float
) -> tuple[str, str]:
    """(the module being imported, or ".", and why the process did not report)."""
    lines = output.splitlines()
    importing = [line.removeprefix(_IMPORTING) for line in lines if line.startswith(_IMPORTING)]
    module = importing[-1] if importing else "."
    if seconds >= timeout:
        return module, (
            f"the bundle did not finish loading within {timeout:g}s (a module that loops or "
            "blocks at import?)"
        )
    if status is not None and status < 0:
        how = f"was killed by {signal.Signals(-status).name}"
        if -status == signal.SIGKILL:
            how += " (out of memory?)"
    else:
        how = f"exited with code {status}"
    when = "while importing this module" if importing else "before it finished"
    return module, f"the loading process {how} {when}"


def _failed(parts: tuple[Part, ...], module: str, why: str, seconds: float) -> Report:
    """Every part failed: the process that loaded them all did not report."""
    problem = Problem(module, None, "load_failed", why)
    return Report(tuple(PartReport(p, (problem,)) for p in parts), seconds)


def run_tests(
    directory: Path, *, timeout: float = DEFAULT_TIMEOUT, memory: int = DEFAULT_MEMORY
) -> tuple[Problem, ...]:
    """Run a bundle's `*_test.yaml` cases (`admit test`) in a sandbox process like `vet`'s; a
    failing or erroring case, an invalid test file or a run past `timeout` is a problem."""
    command = [sys.executable, "-m", "admit", "test", str(directory), "--output", "json"]
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        with contextlib.suppress(ProcessLookupError, OSError):
            resource.prlimit(process.pid, resource.RLIMIT_AS, (memory, memory))
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            late = f"the tests did not end within {timeout:g}s"
            return (Problem(".", None, "tests_failed", late),)
        finally:
            kill_group(process)
        out.seek(0)
        try:
            report = orjson.loads(out.read())
        except orjson.JSONDecodeError:
            report = {}
    base = f"{directory}{os.sep}"
    problems = [
        Problem(case["file"].removeprefix(base), case["line"], "test_failed", _case_failure(case))
        for case in report.get("cases") or []
        if case.get("outcome") != "passed"
    ]
    problems += [Problem(".", None, "tests_failed", text) for text in report.get("problems") or []]
    if process.returncode not in (0, 1) and not problems and report.get("cases"):
        problems.append(
            Problem(".", None, "tests_failed", f"admit test ended with {process.returncode}")
        )
    return tuple(problems)


def _case_failure(case: dict[str, Any]) -> str:
    """`name: field expected X, got Y` for a failed case, or its error."""
    if case.get("error"):
        return f"{case['name']}: {case['error']}"
    found = [
        f"{f['target']}: {f['field']} expected {orjson.dumps(f['expected']).decode()}, "
        f"got {orjson.dumps(f['actual']).decode()}"
        for f in case.get("failures") or []
    ]
    return f"{case['name']}: " + "; ".join(found or ["failed"])


# --- inside the sandbox ----------------------------------------------------------------------
_IMPORTING = "admit-sandbox: importing "


def _announce_imports(snapshot: Path) -> None:
    """Name each module on stderr as it starts running, so a crash can say which one did it."""
    root = str(snapshot) + os.sep

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "exec" and args and getattr(args[0], "co_filename", "").startswith(root):
            os.write(2, f"{_IMPORTING}{args[0].co_filename.removeprefix(root)}\n".encode())

    sys.addaudithook(hook)


def _report_part(snapshot: Path, part: Part) -> dict[str, Any]:
    from admit.loading.loader import load_bundle

    try:
        policy_set = load_bundle(snapshot / part.directory, allow_empty=part.allow_empty)
    except BundleError as exc:
        problems = [[p.path, p.line, p.code, p.message] for p in exc.problems]
        return {"problems": problems, "rules": [], "reads": []}
    return {
        "problems": [],
        "rules": [f"{part.prefix}{rule.key}" for rule in policy_set.rules],
        "reads": [kind.record() for kind in policy_set.reads],
    }


def _end_with_parent() -> None:
    """Die with the process that asked for the load, whatever the bundle does (Linux)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str]) -> None:
    snapshot, fd, memory, seconds = Path(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    _end_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(seconds) + 1  # a loop at import is stopped by the kernel too
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _announce_imports(snapshot)
    out = os.fdopen(fd, "wb")
    parts = []
    for part in read_manifest(snapshot).parts:
        try:
            parts.append(_report_part(snapshot, part))
        except BaseException as exc:  # whatever the bundle raised at import
            problem = [".", None, "load_failed", f"{type(exc).__name__}: {exc}"]
            parts.append({"problems": [problem], "rules": [], "reads": []})
    out.write(orjson.dumps({"parts": parts}) + b"\n")
    out.flush()
    os._exit(0)  # skip interpreter shutdown: a bundle's atexit hooks or threads cannot delay it


if __name__ == "__main__":
    main(sys.argv[1:])
