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

from admit.core.review import Container

# PSA visits init containers first, then containers, then ephemeral containers.
_VISIT_ORDER = {"initContainers": 0, "containers": 1, "ephemeralContainers": 2}
SECTIONS = tuple(_VISIT_ORDER)
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


class Pod:
    """A pod, or a workload's pod template, as PSA reads it: its annotations, its spec and its
    containers in PSA's visiting order."""

    __slots__ = ("annotations", "containers", "spec")

    def __init__(self, obj: Any, containers: Iterable[Container]) -> None:
        metadata = section(obj, "metadata")
        annotations = section(metadata, "annotations")
        self.annotations: Any = annotations if annotations is not None else _EMPTY
        spec = section(obj, "spec")
        self.spec: Any = spec if spec is not None else _EMPTY
        self.containers: tuple[Container, ...] = tuple(
            sorted(containers, key=lambda c: _VISIT_ORDER[c.section])
        )

    @classmethod
    def of(cls, request: Any) -> Pod:
        """The pod an `admit.Request` (for a pod or a pod template) carries."""
        return cls(request.raw_object, request.containers)

    @property
    def security_context(self) -> Any:
        return section(self.spec, "securityContext")

    @property
    def windows(self) -> bool:
        """`spec.os.name: windows`, which exempts a pod from the Linux-only controls (v1.25+)."""
        return bool(field(section(self.spec, "os"), "name") == "windows")

    @property
    def user_namespace(self) -> bool:
        """`spec.hostUsers: false`: the pod runs in its own user namespace."""
        return field(self.spec, "hostUsers") is False


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



def name_of(container: Container) -> str:
    name = container.raw.get("name")
    return name if isinstance(name, str) else ""


def security_context(container: Container) -> Any:
    return section(container.raw, "securityContext")


def in_container(c: Container, rel: str, value: Any, message: str, at: str = "") -> Finding:
    """A finding at `rel` in container `c` (`at` is the path when `rel` has a `[*]`)."""
    path = f"{c.path}.{at or rel}"
    return Finding(f"spec.{c.section}[*].{rel}", path, value, message, c, name_of(c))


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
            image = container.raw.get("image") if container is not None else None
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
