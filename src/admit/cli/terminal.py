"""How output meets a terminal: colour only where it can be seen and is wanted, widths from
the terminal. `NO_COLOR` (no-color.org) turns colour off, `FORCE_COLOR` on, `--color` and
`--no-color` decide over both; `COLUMNS` sets the width, as for any other command."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TextIO


def wants_color(flag: bool | None, stream: TextIO | None = None) -> bool:
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def width(stream: TextIO | None = None) -> int | None:
    """Columns to fit lines into, or None when nothing says (output to a file or a pipe)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = stream or sys.stdout
    if not stream.isatty():
        return None
    return shutil.get_terminal_size().columns
