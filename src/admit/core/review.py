"""The request a rule reads: one admission request seen through read-only views.

Built straight over the decoded AdmissionRequest (webhook) or over a synthetic one (`admit check`),
never copying the object. A Pod rule applied to a workload sees a `Request` for the pod template,
whose `prefix` tells the engine where in the workload its paths point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from admit.core.cluster import EMPTY_CLUSTER, Cluster
from admit.core.shape import InvalidRequest, show
from admit.core.views import MISSING, View

EMPTY_DATA = View({})
CONTAINER_SECTIONS = ("containers", "initContainers", "ephemeralContainers")


class UserInfo(NamedTuple):
    """Who asked: `userInfo` of the AdmissionRequest."""

    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> UserInfo:
        if not raw:
            return ANONYMOUS
        get = raw.get
        groups = get("groups")
        fields = (
            get("username") or "",
            get("uid") or "",
            tuple(groups) if groups else (),
            get("extra") or _NO_EXTRA,
        )
        return _new_tuple(cls, fields)  # a NamedTuple's own __new__ costs several times more


_new_tuple = tuple.__new__
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
ANONYMOUS = UserInfo()


class Container(View):
    """A container, init container or ephemeral container, with its path in the pod."""

    __slots__ = ("index", "section")

    def __init__(self, raw: Mapping[str, Any], section: str, index: int) -> None:
        self._raw = raw
        self.section = section
        self.index = index

    @property
    def path(self) -> str:
        """Where the container is in the pod the rule sees: `spec.containers[1]`."""
        return f"spec.{self.section}[{self.index}]"

    def __repr__(self) -> str:
        return f"Container({self.path}, name={self.raw.get('name')!r})"


def _labels(obj: Any, field: str) -> Mapping[str, str] | None:
    """The labels of a decoded object: None when it is not an object, {} when it has none.
    Label selectors compare them as strings, so anything else is an `InvalidRequest`."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not labels:
        return {}
    try:
        "".join(labels.values())  # one C-level pass that fails on anything but strings
    except (AttributeError, TypeError):
        raise InvalidRequest(
            f"request.{field}.metadata.labels must be an object of strings, got {show(labels)}"
        ) from None
    return labels  # type: ignore[no-any-return]


class Deferred:
    """A part of the request decoded when first read (the webhook defers `oldObject`, which most
    rules never read); `value()` decodes once."""

    __slots__ = ("_load", "_value")

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load: Callable[[], Any] | None = load
        self._value: Any = None

    def value(self) -> Any:
        if self._load is not None:
            self._value = self._load()
            self._load = None
        return self._value


class Request:
    """One admission request, read-only. Fields absent from the review read as empty values.

    The decoded request may carry `oldObject` as a `Deferred` (the webhook's decode does on an
    UPDATE): it is decoded when `old_object`, `raw_old_object` or `raw` is first read, and `raw`
    is always the whole request.
    """

    __slots__ = (
        "_containers",
        "_fields",
        "_old",
        "_user",
        "cluster",
        "data",
        "kind",
        "namespace",
        "namespace_labels",
        "operation",
        "prefix",
        "raw_object",
        "subresource",
    )

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        data: View = EMPTY_DATA,
        cluster: Cluster = EMPTY_CLUSTER,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> None:
        self._fields = raw
        kind = raw.get("kind") or {}
        self.kind: tuple[str, str, str] = (
            kind.get("group", ""),
            kind.get("version", ""),
            kind.get("kind", ""),
        )
        self.operation: str = raw.get("operation", "")
        self.namespace: str = raw.get("namespace") or ""
        self.subresource: str = raw.get("subResource") or ""
        self._user: UserInfo | None = None
        self.raw_object: Any = raw.get("object")
        self._old: Any = raw.get("oldObject")
        self.data = data
        self.cluster = cluster
        if namespace_labels is None and cluster is not EMPTY_CLUSTER:
            namespace_labels = cluster.namespace_labels(self.namespace)
        self.namespace_labels = namespace_labels
        self.prefix = ""
        self._containers: tuple[Container, ...] | None = None

    def for_template(self, prefix: str, template: Any, old_template: Any) -> Request:
        """The request a Pod rule sees for a workload's pod template at `prefix`."""
        twin = with_object(self, _template_pod(template, self.namespace))
        twin.kind = ("", "v1", "Pod")
        twin.subresource = ""
        twin._old = _template_pod(old_template, self.namespace)
        twin.prefix = prefix
        return twin

    @property
    def raw(self) -> Mapping[str, Any]:
        """The whole AdmissionRequest as decoded (do not mutate it)."""
        fields = self._fields
        old = fields.get("oldObject")
        if type(old) is Deferred:
            fields = self._fields = {**fields, "oldObject": old.value()}
        return fields

    @property
    def raw_old_object(self) -> Any:
        """The decoded `oldObject` (None when absent)."""
        old = self._old
        if type(old) is Deferred:
            old = self._old = old.value()
        return old

    # --- identity -------------------------------------------------------------------------
    @property
    def user(self) -> UserInfo:
        """Who asked (`userInfo`)."""
        if self._user is None:
            self._user = UserInfo.of(self._fields.get("userInfo"))
        return self._user

    @property
    def uid(self) -> str:
        return str(self._fields.get("uid", ""))

    @property
    def name(self) -> str:
        """The object's name (for generateName creates, the prefix until the name is given)."""
        name = self._fields.get("name")
        if name:
            return str(name)
        obj = self.raw_object if isinstance(self.raw_object, dict) else self.raw_old_object
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict):
            name = meta.get("name") or meta.get("generateName")
            return name if isinstance(name, str) else ""  # a name of another type is none
        return ""

    @property
    def resource(self) -> tuple[str, str, str]:
        res = self._fields.get("resource") or {}
        return (res.get("group", ""), res.get("version", ""), res.get("resource", ""))

    @property
    def dry_run(self) -> bool:
        return bool(self._fields.get("dryRun"))

    @property
    def options(self) -> Any:
        return _view(self._fields.get("options"))

    # --- objects --------------------------------------------------------------------------
    @property
    def object(self) -> Any:
        """The object being written (`MISSING` on DELETE)."""
        return _view(self.raw_object)

    @property
    def old_object(self) -> Any:
        """The object before the write (`MISSING` on CREATE)."""
        return _view(self.raw_old_object)

    @property
    def labels(self) -> Mapping[str, str]:
        """Labels of the object, or of the old object on DELETE."""
        found = _labels(self.raw_object, "object")
        if found is None:
            found = _labels(self.raw_old_object, "oldObject")
        return found or {}

    @property
    def old_labels(self) -> Mapping[str, str] | None:
        return _labels(self.raw_old_object, "oldObject")

    @property
    def containers(self) -> tuple[Container, ...]:
        """Every container of the pod (containers, initContainers, ephemeralContainers)."""
        if self._containers is None:
            self._containers = _containers_of(self.raw_object)
        return self._containers

    def path(self, relative: str) -> str:
        """`relative` (a path in the object a rule sees) as a path in the request's object."""
        return self.prefix + relative

    def __repr__(self) -> str:
        group, version, kind = self.kind
        api = f"{group}/{version}" if group else version
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        at = f" @{self.prefix}" if self.prefix else ""
        return f"Request({self.operation} {api}/{kind} {where}{at})"


def _view(value: Any) -> Any:
    if value is None:
        return MISSING
    return View(value) if isinstance(value, dict) else value


def _containers_of(obj: Any) -> tuple[Container, ...]:
    spec = obj.get("spec") if isinstance(obj, dict) else None
    if not isinstance(spec, dict):
        return ()
    found: list[Container] = []
    for section in CONTAINER_SECTIONS:
        items = spec.get(section)
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    found.append(Container(c, section, i))
    return tuple(found)


def _template_pod(template: Any, namespace: str) -> dict[str, Any] | None:
    if not isinstance(template, dict):
        return None
    metadata = template.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    if namespace:
        metadata.setdefault("namespace", namespace)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec")}


def with_object(request: Request, obj: Any) -> Request:
    """`request` whose object is `obj` (what validations see after mutations)."""
    twin = object.__new__(Request)
    for name in Request.__slots__:
        setattr(twin, name, getattr(request, name))
    twin.raw_object = obj
    twin._containers = None
    return twin
