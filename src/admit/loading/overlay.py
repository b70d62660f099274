"""`admit serve --set/--config`: a `Publisher` that lays the command line's overrides over
every version of the bundle it publishes, as the file `OVERRIDES_FILE` beside the bundle's own.

The overrides thus belong to the version: the sandbox checks them with the bundle (a change
to the bundle that breaks one, a renamed parameter, is refused like a broken admit.yaml), the
digest changes with them, and every worker loads exactly what `admit check --set` checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admit.loading.overrides import OVERRIDES_FILE, Overrides
from admit.loading.publisher import Files, Publisher, ReloadEvent
from admit.loading.versions import Part


class OverridingPublisher(Publisher):
    """A `Publisher` whose every part also carries `overrides`."""

    def __init__(self, *args: Any, overrides: Overrides, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overrides = overrides

    def offer(self, parts: Sequence[tuple[Part, Files]]) -> ReloadEvent | None:
        extra = (OVERRIDES_FILE, self.overrides.dumps())
        return super().offer([(part, [*files, extra]) for part, files in parts])
