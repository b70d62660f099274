"""Reading a namespace's `pod-security.kubernetes.io/*` labels as Pod Security admission does,
and the other decisions it makes before judging a pod: exemptions, and which updates it judges.

`policy()` follows PSA's reading: a mode's level and version come from its labels, else from
the defaults; an unreadable enforce level means restricted (fail closed), an unreadable audit
or warn level privileged, an unreadable version latest; without a warn label, warn follows an
enforce label that is stricter than it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from admit.policies._pss.model import field, items, section
from admit.policies._pss.versions import LEVELS, Level, minor_of

Mode = Literal["enforce", "audit", "warn"]
MODES: tuple[Mode, ...] = ("enforce", "audit", "warn")
PREFIX = "pod-security.kubernetes.io/"
LABELS = tuple(f"{PREFIX}{mode}{suffix}" for mode in MODES for suffix in ("", "-version"))
# PSA's defaults for a namespace without labels (a plain dict, so the console can show it; never
# written to)
DEFAULTS: Mapping[str, str] = {
    key[len(PREFIX) :]: "privileged" if key.endswith(MODES) else "latest" for key in LABELS
}
_DEFAULT_ITEMS = tuple(sorted(DEFAULTS.items()))
# What an unreadable level label means: the strictest for enforce, nothing for audit and warn.
_FALLBACK: dict[Mode, Level] = {
    "enforce": "restricted",
    "audit": "privileged",
    "warn": "privileged",
}


class ModePolicy(NamedTuple):
    """The level and version one mode applies, as PSA names them (`restricted:v1.30`)."""

    level: Level
    version: str

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


def level_problem(value: str) -> str | None:
    return None if value in LEVELS else f"must be one of {', '.join(LEVELS)}"


def version_problem(value: str) -> str | None:
    try:
        minor_of(value)
    except ValueError:
        return 'must be "latest" or "v1.x"'
    return None


def problems(labels: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, problem) for each pod-security label PSA would refuse on a Namespace."""
    found = []
    for key in LABELS:
        if key in labels:
            value = str(labels[key])
            check = version_problem if key.endswith("-version") else level_problem
            problem = check(value)
            if problem:
                found.append((key, value, problem))
    return found


def policy(labels: Mapping[str, Any], defaults: Mapping[str, str], mode: Mode) -> ModePolicy:
    """The level and version `mode` applies in a namespace with `labels`."""
    values = tuple(map(labels.get, LABELS)) if labels else _UNLABELLED
    given = _DEFAULT_ITEMS if defaults is DEFAULTS else tuple(sorted(defaults.items()))
    return _policy(values, given, mode)


_UNLABELLED: tuple[None, ...] = (None,) * len(LABELS)


@lru_cache(maxsize=4096)  # one entry per distinct labelling: namespaces share a few
def _policy(
    values: tuple[Any, ...], defaults: tuple[tuple[str, str], ...], mode: Mode
) -> ModePolicy:
    labels = {k: str(v) for k, v in zip(LABELS, values, strict=True) if v is not None}
    return _read(labels, dict(defaults), mode)


def _read(labels: Mapping[str, str], defaults: Mapping[str, str], mode: Mode) -> ModePolicy:
    level = _level(defaults.get(mode, "privileged"), "privileged")
    version = _version(defaults.get(f"{mode}-version", "latest"))
    if not labels:
        return ModePolicy(level, version)
    if f"{PREFIX}{mode}" in labels:
        level = _level(str(labels[f"{PREFIX}{mode}"]), _FALLBACK[mode])
    if f"{PREFIX}{mode}-version" in labels:
        version = _version(str(labels[f"{PREFIX}{mode}-version"]))
    if mode == "warn" and f"{PREFIX}warn" not in labels:
        enforce_label = labels.get(f"{PREFIX}enforce")
        if enforce_label in LEVELS and LEVELS.index(enforce_label) > LEVELS.index(level):
            enforced = _read(labels, defaults, "enforce")
            level = enforced.level
            if f"{PREFIX}warn-version" not in labels:
                version = enforced.version
    return ModePolicy(level, version)


def _level(value: str, fallback: Level) -> Level:
    for level in LEVELS:
        if value == level:
            return level
    return fallback


def _version(value: str) -> str:
    return value if version_problem(value) is None else "latest"


def check_defaults(value: object) -> str | None:
    """A parameter check for `defaults` (PSA's AdmissionConfiguration `defaults`)."""
    if not isinstance(value, Mapping):
        return f"must map enforce, audit, warn and their -version keys to values, not {value!r}"
    for key, item in value.items():
        if key not in DEFAULTS:
            return f"unknown key {key!r} (allowed: {', '.join(DEFAULTS)})"
        check = version_problem if key.endswith("-version") else level_problem
        problem = check(item) if isinstance(item, str) else f"must be a string, not {item!r}"
        if problem:
            return f"{key}: {problem}"
    return None


# --- what PSA does not judge ----------------------------------------------------------------


def significant_update(pod: Any, old: Any) -> bool:
    """Whether an UPDATE of a pod can change its verdict: PSA judges an update only when it
    adds or removes containers, changes an image, or changes a seccomp annotation (the other
    security fields of a pod cannot change once it exists)."""
    spec, old_spec = section(pod, "spec"), section(old, "spec")
    annotations = section(section(pod, "metadata"), "annotations") or {}
    old_annotations = section(section(old, "metadata"), "annotations") or {}
    seccomp_pod = "seccomp.security.alpha.kubernetes.io/pod"
    if annotations.get(seccomp_pod) != old_annotations.get(seccomp_pod):
        return True
    for key in ("containers", "initContainers"):
        new, before = items(spec, key), items(old_spec, key)
        if len(new) != len(before):
            return True
        pairs = zip(new, before, strict=True)
        if any(_changed(c, o, annotations, old_annotations) for c, o in pairs):
            return True
    ephemeral = items(spec, "ephemeralContainers")
    old_ephemeral = items(old_spec, "ephemeralContainers")
    if len(ephemeral) != len(old_ephemeral):
        return True
    by_name = {field(o, "name"): o for o in old_ephemeral}
    for c in ephemeral:
        o = by_name.get(field(c, "name"))
        if o is None or _changed(c, o, annotations, old_annotations):
            return True
    return False


def _changed(c: Any, old: Any, annotations: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    if field(c, "image") != field(old, "image"):
        return True
    key = f"container.seccomp.security.alpha.kubernetes.io/{field(c, 'name')}"
    return annotations.get(key) != before.get(key)
