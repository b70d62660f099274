"""What the library's per-control rules call: their parameter types (checked when the bundle
loads) and the violations of one control, one per offending value, pointing at its field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from admit import Violation
from admit.policies._pss.exclusions import check_exclusions, exclusions
from admit.policies._pss.model import Pod
from admit.policies._pss.registry import control_findings
from admit.policies._pss.versions import Level, check_version, minor_of

Version = Annotated[str, check_version]
Exclusions = Annotated[Sequence[Mapping[str, Any]], check_exclusions]


def violations(
    request: Any, level: Level, control: str, version: str, exclude: Sequence[Any]
) -> Iterator[Violation]:
    """The violations of `control`'s checks of `level` at `version` in the request's pod."""
    pod = Pod.of(request)
    for finding in control_findings(pod, level, minor_of(version), control, exclusions(exclude)):
        yield Violation(finding.message, finding.path)
