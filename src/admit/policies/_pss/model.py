"""The pod as the checks read it, what a check finds in it, and the wording of PSA's messages.

Checks read the decoded JSON directly with `field`, which treats a key holding null or a value
of the wrong type as absent (a Go pointer left nil), so an odd manifest never breaks a check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

# PSA visits init containers first, then containers, then ephemeral containers.
SECTIONS = ("initContainers", "containers", "ephemeralContainers")
_EMPTY: Any = MappingProxyType({})


def field(obj: Any, key: str) -> Any:
    """`obj[key]` when `obj` is a mapping and the value is not null, else None."""
    return obj.get(key) if isinstance(obj, dict) else None


def section(obj: Any, key: str) -> Any:
    """`obj[key]` when it is a mapping (a struct Go would find set), else None."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else None


def items(obj: Any, key: str) -> list[Any]:
    """`obj[key]` when it is a list, else an empty list."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


class Container(NamedTuple):
    """A container, init container or ephemeral container, read once for every check."""

    raw: Any
    security_context: Any
    name: str
    section: str
    path: str  # where it is in the pod: spec.initContainers[0]

    @property
    def image(self) -> Any:
        return self.raw.get("image")


class Pod:
    """A pod, or a workload's pod template, as PSA reads it: its annotations, its spec and its
    containers in PSA's visiting order."""

    __slots__ = (
        "annotations",
        "containers",
        "security_context",
        "spec",
        "user_namespace",
        "windows",
    )

    def __init__(self, obj: Any) -> None:
        metadata = section(obj, "metadata")
        self.annotations: Any = section(metadata, "annotations") or _EMPTY
        spec = self.spec = section(obj, "spec") or _EMPTY
        self.security_context: Any = section(spec, "securityContext") or _EMPTY
        # `spec.os.name: windows` exempts a pod from the Linux-only controls (v1.25+);
        # `spec.hostUsers: false` puts it in its own user namespace.
        self.windows = field(section(spec, "os"), "name") == "windows"
        self.user_namespace = spec.get("hostUsers") is False
        self.containers = tuple(
            Container(c, section(c, "securityContext") or _EMPTY, _name(c), key, f"spec.{key}[{i}]")
            for key in SECTIONS
            for i, c in enumerate(items(spec, key))
            if isinstance(c, dict)
        )

    @classmethod
    def of(cls, request: Any) -> Pod:
        """The pod an `admit.Request` (for a pod or a pod template) carries, read once for all
        the rules that judge the request."""
        global _last
        obj = request.raw_object
        last_request, last_obj, pod = _last
        if last_request is request and last_obj is obj and pod is not None:
            return pod
        pod = cls(obj)
        _last = (request, obj, pod)
        return pod


# The pod of the last request: its rules (up to 19 for pss-restricted) read it once, not once
# each (pss-baseline, the origin's pod: 626k -> 272k instructions per request, callgrind).
# Keyed by the request and its object, both held so neither can be another's; a tuple swapped
# whole, so a concurrent evaluation never reads another's pod. A workload's pod template is a
# new request for every rule, so it is read by each.
_last: tuple[Any, Any, Pod | None] = (None, None, None)


class Finding(NamedTuple):
    """One offending value: the restricted field as exemptions name it (`spec.containers[*].
    securityContext.privileged`), where it is in this pod, the value (None when a required
    setting is missing), a message for one violation, the container it belongs to (None for
    the pod's own fields and metadata), and the name PSA's message lists for it (the
    container's, the volume's or the annotation's)."""

    field: str
    path: str
    value: Any
    message: str
    container: Container | None = None
    name: str = ""


def _name(container: dict[str, Any]) -> str:
    name = container.get("name")
    return name if isinstance(name, str) else ""


def in_container(c: Container, rel: str, value: Any, message: str, at: str = "") -> Finding:
    """A finding at `rel` in container `c` (`at` is the path when `rel` has a `[*]`)."""
    path = f"{c.path}.{at or rel}"
    return Finding(f"spec.{c.section}[*].{rel}", path, value, message, c, c.name)


def in_every_section(rel: str) -> tuple[str, ...]:
    """The restricted field `rel` in containers, init containers and ephemeral containers."""
    return tuple(f"spec.{s}[*].{rel}" for s in SECTIONS)


# --- the wording of PSA's messages ----------------------------------------------------------


def quoted(values: Iterable[str]) -> str:
    """`"a", "b"` (PSA's joinQuote)."""
    values = list(values)
    return '"' + '", "'.join(values) + '"' if values else ""


def plural(singular: str, many: str, count: int) -> str:
    return singular if count == 1 else many


def go_quote(text: str) -> str:
    """`text` as Go's %q writes it, for the annotation values PSA quotes."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


_ESCAPES = {ch: "\\" + letter for ch, letter in zip("\a\b\f\n\r\t\v", "abfnrtv", strict=True)}


def text(value: Any) -> str:
    """A value as Go would print it in a message (`true`, `8080`, `SYS_ADMIN`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def containers_named(findings: Sequence[Finding]) -> list[str]:
    """Names of the containers with findings, each once, in visiting order."""
    return list(dict.fromkeys(f.name for f in findings if f.container is not None))


def setters(findings: Sequence[Finding]) -> list[str]:
    """`pod` (when the pod's own fields offend) and `container(s) "a", "b"`, as PSA lists who
    set a forbidden value."""
    found = ["pod"] if any(f.container is None for f in findings) else []
    names = containers_named(findings)
    if names:
        found.append(f"{plural('container', 'containers', len(names))} {quoted(names)}")
    return found


# --- checks ---------------------------------------------------------------------------------

Find = Callable[[Pod], list[Finding]]
Explain = Callable[[Sequence[Finding]], tuple[str, str]]  # findings -> (reason, detail)


class Revision(NamedTuple):
    """How a check reads pods from policy version v1.`since` on (until the next revision)."""

    since: int
    find: Find
    explain: Explain


@dataclass(frozen=True, slots=True)
class Check:
    """One check of the reference implementation, keyed by its ID there (`hostPorts`): its
    level, the Pod Security Standards control it belongs to, its revisions by version, the
    Baseline checks it replaces under Restricted, and the fields it restricts."""

    id: str
    level: Literal["baseline", "restricted"]
    control: str
    revisions: tuple[Revision, ...]
    fields: tuple[str, ...]
    overrides: tuple[str, ...] = ()

    def at(self, minor: int) -> Revision | None:
        """The revision in force at policy version v1.`minor` (None before the first)."""
        found = None
        for revision in self.revisions:
            if revision.since <= minor:
                found = revision
        return found


# --- exemptions -----------------------------------------------------------------------------


def value_key(value: Any) -> str:
    """How exemptions compare values: as YAML writes them (`true`, `8080`, `null`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Exclusion(NamedTuple):
    """An exemption from one control: for containers whose image matches one of `images` (or,
    without images, for the pod's own fields and metadata), optionally only at `field` and for
    the `values` listed."""

    control: str
    images: tuple[str, ...] = ()
    field: str | None = None
    values: frozenset[str] | None = None

    def covers(self, finding: Finding) -> bool:
        container = finding.container
        if self.images:
            image = container.image if container is not None else None
            if not isinstance(image, str) or not any(fnmatchcase(image, g) for g in self.images):
                return False
        elif container is not None:
            return False
        if self.field is not None and finding.field != self.field:
            return False
        return self.values is None or value_key(finding.value) in self.values


def kept(findings: list[Finding], control: str, exclusions: Sequence[Exclusion]) -> list[Finding]:
    """`findings` of `control` that no exemption covers."""
    mine = [e for e in exclusions if e.control == control]
    if not mine:
        return findings
    return [f for f in findings if not any(e.covers(f) for e in mine)]
