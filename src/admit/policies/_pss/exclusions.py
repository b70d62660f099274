"""Exemptions per control, image and value, written as Kyverno's `podSecurity.exclude`:

    exclude:
    - controlName: Capabilities
      images: ["ghcr.io/acme/net-tools:*"]
      restrictedField: spec.containers[*].securityContext.capabilities.add
      values: [NET_ADMIN]

Read once when the bundle loads (the `exclude` parameter's check reports every problem there)
and parsed on first use; the rules then only compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admit.policies._pss.model import Exclusion, value_key
from admit.policies._pss.registry import CONTROLS

_KEYS = ("controlName", "images", "restrictedField", "values")
# Controls whose fields are all in containers: an exemption must say which images it is for.
CONTAINER_CONTROLS = frozenset(
    {
        "Capabilities",
        "Privileged Containers",
        "Host Ports",
        "/proc Mount Type",
        "Privilege Escalation",
        "Host Probes / Lifecycle Hooks",
    }
)
# Controls whose fields are all the pod's own: images mean nothing there.
POD_CONTROLS = frozenset({"Host Namespaces", "HostPath Volumes", "Sysctls", "Volume Types"})


def parse(raw: object) -> Exclusion:
    """One exemption from its YAML form; ValueError saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"an exclusion is a mapping with {', '.join(_KEYS)}, not {raw!r}")
    unknown = [str(k) for k in raw if k not in _KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(_KEYS)})")
    control = _control(raw.get("controlName"))
    images = _strings(raw.get("images", []), "images")
    if control in POD_CONTROLS and images:
        raise ValueError(f"{control!r} restricts the pod's own fields: images must not be given")
    if control in CONTAINER_CONTROLS and not images:
        raise ValueError(
            f"{control!r} restricts containers: give the images it is for "
            '(images: ["*"] for every container)'
        )
    field = raw.get("restrictedField")
    values = raw.get("values")
    if field is None and values is None:
        return Exclusion(control, images)
    if field is None:
        raise ValueError("values need the restrictedField they are values of")
    if not isinstance(field, str) or field not in CONTROLS[control]:
        raise ValueError(
            f"restrictedField of {control!r} is one of: {', '.join(CONTROLS[control])}; "
            f"not {field!r}"
        )
    if not isinstance(values, list) or not values:
        raise ValueError(f"restrictedField {field} needs the values it exempts (a list)")
    if any(isinstance(v, (dict, list)) for v in values):
        raise ValueError("values are plain values (strings, numbers, true/false, null)")
    return Exclusion(control, images, field, frozenset(value_key(v) for v in values))


def _control(name: Any) -> str:
    if isinstance(name, str) and name in CONTROLS:
        return name
    close = [c for c in CONTROLS if isinstance(name, str) and c.lower() == name.strip().lower()]
    hint = f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(CONTROLS)}"
    raise ValueError(f"controlName {name!r} is not a Pod Security Standards control; {hint}")


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} is a list of strings, not {value!r}")
    return tuple(value)


def check_exclusions(value: object) -> str | None:
    """A parameter check: the first problem of an `exclude` list, or None."""
    if not isinstance(value, (list, tuple)):
        return f"must be a list of exclusions, not {value!r}"
    for i, raw in enumerate(value, 1):
        try:
            parse(raw)
        except ValueError as exc:
            return f"exclusion {i}: {exc}"
    return None


_parsed: dict[int, tuple[object, tuple[Exclusion, ...]]] = {}


def exclusions(value: Any) -> tuple[Exclusion, ...]:
    """The parsed form of an `exclude` parameter, parsed once per list (the list a loaded rule
    is given stays the same object)."""
    if not value:
        return ()
    hit = _parsed.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    parsed = tuple(parse(raw) for raw in value)
    if len(_parsed) >= 256:  # reloads leave old lists behind
        _parsed.clear()
    _parsed[id(value)] = (value, parsed)
    return parsed
