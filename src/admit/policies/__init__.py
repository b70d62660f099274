"""admit's policy library: bundles of ready-made rules shipped with the package.

Each name below is a bundle directory that `admit check`, `admit serve` and `admit test` load by
path, like any other bundle; `library_path()` finds them wherever admit is installed. Nothing
here imports a rule module: the loader imports them afresh for every load, as for user bundles.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent

# name -> directory relative to ROOT; "pss-restricted" is the whole profile (baseline included)
BUNDLES: dict[str, str] = {
    "pss-baseline": "pss/baseline",
    "pss-restricted": "pss",
    "pod-security-admission": "pod_security_admission",
    "best-practices": "best_practices",
    "top5": "top5",
}


def library_path(name: str | None = None) -> Path:
    """The directory of the whole library, or of the bundle `name` (see `BUNDLES`).

    `"pss-restricted"` is the Restricted profile as Kubernetes defines it: the Baseline controls
    and the ones Restricted adds (`pss/restricted/` alone holds only the latter).
    """
    if name is None:
        return ROOT
    key = name.replace("_", "-").lower()
    if key not in BUNDLES:
        raise ValueError(f"no library bundle {name!r}; choose one of {', '.join(BUNDLES)}")
    return ROOT / BUNDLES[key]


__all__ = ["BUNDLES", "ROOT", "library_path"]
