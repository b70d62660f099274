"""Instructions per call of a benchmark's child run, counted by valgrind's callgrind (Debian
package `valgrind`): the same code gives the same count on any run, where timings on a shared
machine do not.

A benchmark script runs itself as a child, `script --child ARG... COUNT`, doing COUNT calls of
what it measures after the same warm-up; `per_call` runs the child with COUNT and with 0 and
divides the difference, so start-up and warm-up cancel out."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence

PYTHON = sys.executable


def instructions(script: str, *args: str) -> int:
    """User-space instructions of one whole run of `script --child ARGS`."""
    command = [
        *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
        *(PYTHON, script, "--child", *args),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if not found:
        raise RuntimeError(f"callgrind reported no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_call(script: str, args: Sequence[str], count: int) -> float:
    """Instructions per call: (a run of `count` calls - a run of none) / `count`."""
    done = instructions(script, *args, str(count)) - instructions(script, *args, "0")
    return done / count
