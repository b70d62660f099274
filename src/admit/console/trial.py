"""Trying edited policy code: the console's policy editor runs a copy of the served version,
with one module replaced (or a new one added), against requests, in a process of its own
(`python -m admit.console.trial`), and reads the decisions back on a pipe.

Edited code never runs in the console or a worker, and never changes the served set: the copy
lives in a temporary directory removed afterwards; the process starts with an empty
environment, is confined (`admit.console.confine`: limits, no network, no processes, files of
the copy only) before it imports the copy, judges each request under the server's rule
timeout, and is killed with anything it started when it answers or its time is up. Like
`admit.loading.sandbox`, whatever the code does (exit, loop, crash, eat memory) becomes a
message, never an error of the console.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from admit.core.engine import PolicySet
from admit.core.errors import InputError
from admit.loading.sandbox import kill_group, read_line
from admit.loading.versions import MANIFEST

TIMEOUT = 10.0  # seconds a trial may take, from start to answer
MEMORY = 1024**3  # bytes of address space for the trial's process
MAX_SOURCE = 256 * 1024  # characters of edited code
NEW_MODULE = "edited_policy.py"  # where a policy started blank goes in the copy
_INPUT = "trial.json"


class TrialError(InputError):
    """The edit cannot be tried as asked (answered as 400 with this text)."""


@dataclass(frozen=True, slots=True)
class Edit:
    """A module's new source, by its path inside the served version (POSIX, relative)."""

    path: str
    source: str


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What a trial gave: decisions (stream-shaped entries), or the edited bundle's load
    problems, or why the process gave no answer (`stopped`)."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    confinement: str = ""
    seconds: float = 0.0


def snapshot_of(policy_set: PolicySet) -> Path:
    """The directory of the version `policy_set` was loaded from: the published snapshot that
    holds its modules (marked by its manifest), else the set's source directory."""
    for rule in policy_set.rules:
        if rule.file:
            for parent in Path(rule.file).resolve().parents:
                if (parent / MANIFEST).is_file():
                    return parent
    if policy_set.source and Path(policy_set.source).is_dir():
        return Path(policy_set.source).resolve()
    raise TrialError("the served policies have no directory to copy for a trial")


def edit_of(snapshot: Path, file: str | None, source: str, served: set[str]) -> Edit:
    """The edit of `file` (a module of the served set, as `/api/policies` names it; None or
    empty for a new policy) to `source`."""
    if len(source) > MAX_SOURCE:
        raise TrialError(f"the edited module is over {MAX_SOURCE // 1024} KiB")
    if "\x00" in source:
        raise TrialError("the edited module holds a NUL character")
    if not file:
        return Edit(NEW_MODULE, source)
    if file not in served:
        raise TrialError(f"{file!r} is not a module of the served policies")
    try:
        relative = Path(file).resolve().relative_to(snapshot)
    except ValueError:
        raise TrialError(f"{file!r} is not inside the served version") from None
    return Edit(PurePosixPath(*relative.parts).as_posix(), source)


def run_trial(
    snapshot: Path,
    edit: Edit,
    raws: list[dict[str, Any]],
    *,
    rule_timeout: float,
    message_format: str | None = None,
    timeout: float = TIMEOUT,
    memory: int = MEMORY,
) -> TrialResult:
    """Judge `raws` (AdmissionRequests) with a copy of `snapshot` where `edit` is applied, in a
    confined process; blocks up to `timeout` seconds (call it off the event loop)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="admit-trial-") as scratch:
        bundle = Path(scratch) / "bundle"
        shutil.copytree(snapshot, bundle, ignore=shutil.ignore_patterns("__pycache__"))
        target = bundle / edit.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(edit.source, encoding="utf-8")
        settings = {
            "raws": raws,
            "edited": edit.path,
            "rule_timeout": rule_timeout,
            "message_format": message_format,
        }
        (Path(scratch) / _INPUT).write_bytes(orjson.dumps(settings))
        answer, status = _run(Path(scratch), timeout, memory, started + timeout)
    seconds = time.monotonic() - started
    if answer is None:
        return TrialResult(stopped=_why_stopped(status, timeout, seconds), seconds=seconds)
    try:
        found = orjson.loads(answer)
        return TrialResult(
            decisions=list(found.get("decisions") or []),
            problems=list(found.get("problems") or []),
            stopped=found.get("error"),
            confinement=str(found.get("confinement") or ""),
            seconds=seconds,
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return TrialResult(stopped="the trial's process sent a garbled answer", seconds=seconds)


def _run(scratch: Path, timeout: float, memory: int, deadline: float) -> tuple[bytes | None, int]:
    """The trial process's answer line (None without one) and its exit status."""
    reader, writer = os.pipe()
    command = [sys.executable, "-I", "-B", "-m", __name__, str(scratch), str(writer)]
    process = subprocess.Popen(
        [*command, str(timeout), str(memory)],
        pass_fds=(writer,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # not a file: the process may write no file, and no logs
        env={"LANG": "C.UTF-8"},  # nothing of the server's environment
        start_new_session=True,  # its own process group: killed whole
        cwd=scratch,
    )
    os.close(writer)
    try:
        answer = read_line(reader, deadline)
    finally:
        os.close(reader)
        kill_group(process)
    return answer, process.returncode


def _why_stopped(status: int, timeout: float, seconds: float) -> str:
    if seconds >= timeout:
        return (
            f"the edited policy did not finish within {timeout:g}s and was stopped (an endless "
            "loop at import, or in a rule while the rule timeout is off?)"
        )
    if status < 0:
        name = signal.Signals(-status).name
        hint = {"SIGKILL": " (out of memory or CPU time?)", "SIGXCPU": " (out of CPU time)"}
        return f"the trial's process was killed by {name}{hint.get(name, '')} before it answered"
    return (
        f"the trial's process exited with code {status} before it answered (does the edited "
        "code call os._exit()?)"
    )


# --- inside the trial's process ---------------------------------------------------------------
def _load(bundle: Path, edited: str) -> tuple[PolicySet | None, list[dict[str, Any]]]:
    """The edited copy's policy set, or its load problems (`edited`: in the edited module)."""
    from admit.core.errors import BundleError
    from admit.loading.loader import load_bundle
    from admit.loading.store import load_version
    from admit.loading.versions import read_manifest

    parts = [p.directory for p in read_manifest(bundle).parts] if (bundle / MANIFEST).is_file() \
        else ["."]  # fmt: skip
    try:
        if (bundle / MANIFEST).is_file():
            return load_version(bundle), []
        return load_bundle(bundle), []
    except BundleError as exc:
        problems = []
        for p in exc.problems:
            candidates = {os.path.normpath(os.path.join(part, p.path)) for part in parts}
            problems.append(
                {
                    "file": p.path,
                    "line": p.line,
                    "code": p.code,
                    "message": p.message,
                    "edited": os.path.normpath(edited) in candidates,
                }
            )
        return None, problems


def _judge(policy_set: PolicySet, raws: list[dict[str, Any]], rule_timeout: float) -> Any:
    from admit.console.playground import judge_requests
    from admit.server.app import AdmitApp
    from admit.server.policies import FixedPolicies

    app = AdmitApp(FixedPolicies(policy_set), rule_timeout=rule_timeout)
    app.install_deadline()
    return judge_requests(policy_set, raws, lambda s, r: app.judge(s, r, "all"))


def main(argv: list[str]) -> None:
    scratch, fd, seconds, memory = Path(argv[0]), int(argv[1]), float(argv[2]), int(argv[3])
    from admit.console.confine import confine, end_with_parent

    end_with_parent()
    out = os.fdopen(fd, "wb")
    settings = orjson.loads((scratch / _INPUT).read_bytes())
    # Import what judging needs before confinement: afterwards only the copy is readable
    # besides Python's own installation, which these come from anyway.
    import admit.console.playground
    import admit.loading.store
    import admit.server.app  # noqa: F401

    confinement = confine(scratch / "bundle", memory=memory, seconds=seconds)
    answer: dict[str, Any] = {"confinement": confinement.describe()}
    try:
        policy_set, problems = _load(scratch / "bundle", settings["edited"])
        if policy_set is None:
            answer["problems"] = problems
        else:
            if settings.get("message_format"):
                policy_set = policy_set.with_message_format(settings["message_format"])
            answer["decisions"] = _judge(policy_set, settings["raws"], settings["rule_timeout"])
    except BaseException as exc:  # whatever the edited code raised past the loader
        answer["error"] = f"the edited policy could not be tried: {type(exc).__name__}: {exc}"
    out.write(orjson.dumps(answer) + b"\n")
    out.flush()
    os._exit(0)  # no interpreter shutdown: the edited code's atexit hooks never run


if __name__ == "__main__":
    main(sys.argv[1:])
