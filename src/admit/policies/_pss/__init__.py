"""The Pod Security Standards as Kubernetes' Pod Security admission (PSA) evaluates them, for
every policy version: the checks, their per-version revisions, how a level and version select
them, the messages kubectl users know, and Kyverno-style exemptions.

Shared by the library's per-control rules (`pss/`) and its namespace-label mode
(`pod_security_admission/`), and imported as `admit.policies._pss` so a bundle copied out of
the library keeps working. Pure: no I/O, nothing but the standard library and admit's core.
"""

from admit.policies._pss.exclusions import check_exclusions, exclusions
from admit.policies._pss.model import Exclusion, Finding, Pod
from admit.policies._pss.profile import Exclusions, Version, violations
from admit.policies._pss.registry import CHECKS, CONTROLS, Result, checks_for, evaluate, explain
from admit.policies._pss.versions import LEVELS, NEWEST, Level, check_version, minor_of

__all__ = [
    "CHECKS",
    "CONTROLS",
    "LEVELS",
    "NEWEST",
    "Exclusion",
    "Exclusions",
    "Finding",
    "Level",
    "Pod",
    "Result",
    "Version",
    "check_exclusions",
    "check_version",
    "checks_for",
    "evaluate",
    "exclusions",
    "explain",
    "minor_of",
    "violations",
]
