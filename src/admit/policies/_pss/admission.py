"""Judging a pod as Pod Security admission does for one mode of its namespace's labels: what it
exempts and skips, the level and version the labels select, and the one message PSA writes
(`violates PodSecurity "restricted:v1.36": ...`, or `would violate` for warn and audit)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Annotated, Any

from admit import Violation
from admit.policies._pss.exclusions import exclusions
from admit.policies._pss.model import Exclusion, Pod, field, section
from admit.policies._pss.namespace import (
    DEFAULTS,
    Mode,
    ModePolicy,
    check_defaults,
    policy,
    significant_update,
)
from admit.policies._pss.registry import Result, evaluate, explain
from admit.policies._pss.versions import minor_of

EXEMPTION_KEYS = ("usernames", "namespaces", "runtimeClasses")
NO_EXEMPTIONS: Mapping[str, Sequence[str]] = {key: [] for key in EXEMPTION_KEYS}  # never written
# Pod subresources PSA judges (the others cannot change what the checks read).
JUDGED_SUBRESOURCES = ("", "ephemeralcontainers")


def check_exemptions(value: object) -> str | None:
    """A parameter check for `exemptions` (PSA's AdmissionConfiguration `exemptions`)."""
    if not isinstance(value, Mapping):
        return f"must map usernames, namespaces and runtimeClasses to lists, not {value!r}"
    for key, names in value.items():
        if key not in EXEMPTION_KEYS:
            return f"unknown key {key!r} (allowed: {', '.join(EXEMPTION_KEYS)})"
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            return f"{key} is a list of names (globs allowed), not {names!r}"
    return None


Defaults = Annotated[Mapping[str, str], check_defaults]
Exemptions = Annotated[Mapping[str, Sequence[str]], check_exemptions]
__all__ = ["DEFAULTS", "NO_EXEMPTIONS", "Defaults", "Exemptions", "judge"]


def _exempt(names: Sequence[str], value: object) -> bool:
    return isinstance(value, str) and any(fnmatchcase(value, glob) for glob in names)


def judge(
    request: Any,
    mode: Mode,
    defaults: Mapping[str, str],
    exemptions: Mapping[str, Sequence[str]],
    exclude: Sequence[Any],
) -> Iterator[Violation]:
    """PSA's verdict for `mode` on the request's pod (or pod template), as one violation."""
    # A namespace not known (offline: no Namespace manifest given; in a cluster: created a moment
    # ago, before the cache saw it) is judged as one without labels: by the defaults.
    labels = request.namespace_labels or {}
    selected = policy(labels, defaults, mode)
    if selected.level == "privileged" or _skipped(request, exemptions):
        return
    excluded = exclusions(exclude)
    failed = _evaluated(request, selected, excluded)
    if not failed:
        return
    if mode == "warn" and not request.prefix:
        # As PSA: no warning on a pod the enforce level denies (the denial says it all).
        enforced = policy(labels, defaults, "enforce")
        if enforced.level != "privileged" and _evaluated(request, enforced, excluded):
            return
    verb = "violates" if mode == "enforce" else "would violate"
    yield Violation(f'{verb} PodSecurity "{selected}": {explain(failed)}')


def _skipped(request: Any, exemptions: Mapping[str, Sequence[str]]) -> bool:
    """What PSA does not judge: exempt users, namespaces and runtime classes, pod subresources
    other than ephemeral containers, and pod updates that change no image or container."""
    if request.subresource not in JUDGED_SUBRESOURCES:
        return True
    pod = request.raw_object
    runtime_class = field(section(pod, "spec"), "runtimeClassName")
    if (
        _exempt(exemptions.get("namespaces", ()), request.namespace)
        or _exempt(exemptions.get("usernames", ()), request.user.username)
        or _exempt(exemptions.get("runtimeClasses", ()), runtime_class)
    ):
        return True
    return (
        request.operation == "UPDATE"
        and not request.prefix
        and not significant_update(pod, request.raw_old_object)
    )


# The last request's verdicts by (level, version, exemptions): its enforce, warn and audit rules,
# and the warn rule's look at the enforce level, evaluate a pod once per distinct policy (a
# namespace labelled restricted for all three modes, the origin's pod: 962k -> 212k
# instructions per request, callgrind). Keyed by the request and the pod's spec, both held, so
# neither can be another's; a tuple swapped whole, so concurrent evaluations never share one's
# verdicts.
_memo: tuple[Any, Any, dict[tuple[Any, ...], list[Result]]] = (None, None, {})


def _evaluated(request: Any, selected: ModePolicy, excluded: tuple[Exclusion, ...]) -> list[Result]:
    global _memo
    spec = section(request.raw_object, "spec")
    last_request, last_spec, verdicts = _memo
    if last_request is not request or last_spec is not spec or spec is None:
        verdicts = {}
        _memo = (request, spec, verdicts)
    key = (selected, excluded)
    found = verdicts.get(key)
    if found is None:
        minor = minor_of(selected.version)
        found = verdicts[key] = evaluate(Pod.of(request), selected.level, minor, excluded)
    return found
