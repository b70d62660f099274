"""The policy source process: follows a bundle directory or ConfigMaps and publishes each new
version (the source's own `watch`), and reports its load counts for /metrics. One per server,
so a version is loaded once, not once per worker; the supervisor restarts it if it dies."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from admit.server.state import write_report

log = logging.getLogger("admit.source")


class Counting(Protocol):
    """The source's publisher: its loads by result, and a hook called after each load."""

    @property
    def loads(self) -> Mapping[str, int]: ...

    on_event: Callable[[Any], None] | None


def run_source(
    watch: Callable[[], Coroutine[Any, Any, None]],
    publisher: Counting,
    metrics_dir: Path | None,
) -> None:
    """Run `watch` until SIGTERM, writing the load counts for /metrics after each load."""

    def report(event: Any = None) -> None:
        if metrics_dir is None:
            return
        counts = [[result, n] for result, n in sorted(publisher.loads.items())]
        try:
            snapshot = {"pid": os.getpid(), "bundle": "", "reloads": counts}
            write_report(metrics_dir, f"worker-{os.getpid()}", snapshot)
        except OSError:
            log.exception("writing the source's metrics failed")

    publisher.on_event = report
    report()
    asyncio.run(watch())
