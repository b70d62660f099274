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
        return cls._make(fields)  # positional: the keyword `__new__` costs several times more


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


_set = object.__setattr__  # how a Request caches what it reads (it refuses other writes)


class _Fields:
    """A request's fields while it is being built, writable; it becomes a `Request` when done.

    Building in a writable twin keeps construction plain slot stores (a `__setattr__` that
    refuses writes would make each of them a call: +15k instructions a request, measured with
    bench_instructions.py), and still no one can change a request once it exists.
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
    _fields: Mapping[str, Any]
    _old: Any
    _user: UserInfo | None
    _containers: tuple[Container, ...] | None
    cluster: Cluster
    data: View
    kind: tuple[str, str, str]
    namespace: str
    namespace_labels: Mapping[str, str] | None
    operation: str
    prefix: str
    raw_object: Any
    subresource: str


class Request(_Fields):
    """One admission request, read-only. Fields absent from the review read as empty values.

    Immutable: setting an attribute raises, and the engine derives new requests (the object
    after mutations, a pod template, the bundle's data) rather than changing one. It caches
    what it decodes or builds on first read (the user, the containers, a deferred old object).

    The decoded request may carry `oldObject` as a `Deferred` (the webhook's decode does on an
    UPDATE): it is decoded when `old_object`, `raw_old_object` or `raw` is first read, and `raw`
    is always the whole request.
    """

    __slots__ = ()

    def __new__(
        cls,
        raw: Mapping[str, Any],
        *,
        cluster: Cluster = EMPTY_CLUSTER,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> Request:
        draft = object.__new__(_Fields)
        draft._fields = raw
        kind = raw.get("kind") or {}
        draft.kind = (kind.get("group", ""), kind.get("version", ""), kind.get("kind", ""))
        draft.operation = raw.get("operation", "")
        draft.namespace = namespace = raw.get("namespace") or ""
        draft.subresource = raw.get("subResource") or ""
        draft._user = None
        draft.raw_object = raw.get("object")
        draft._old = raw.get("oldObject")
        draft.data = EMPTY_DATA
        draft.cluster = cluster
        if namespace_labels is None and cluster is not EMPTY_CLUSTER:
            namespace_labels = cluster.namespace_labels(namespace)
        draft.namespace_labels = namespace_labels
        draft.prefix = ""
        draft._containers = None
        return _done(draft)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Request is read-only (cannot set {name!r})")

    def derive(self, **changes: Any) -> Request:
        """A copy with some attributes replaced (`data`, `raw_object`...); caches of what
        changed are dropped."""
        draft = object.__new__(_Fields)
        for name in _Fields.__slots__:
            _set(draft, name, changes[name] if name in changes else getattr(self, name))
        if "raw_object" in changes and "_containers" not in changes:
            draft._containers = None
        return _done(draft)

    def with_data(self, data: View) -> Request:
        """This request as rules of a set with bundle `data` see it."""
        return self if data is self.data else self.derive(data=data)

    def for_template(self, prefix: str, template: Any, old_template: Any) -> Request:
        """The request a Pod rule sees for a workload's pod template at `prefix`."""
        return self.derive(
            raw_object=_template_pod(template, self.namespace),
            kind=("", "v1", "Pod"),
            subresource="",
            _old=_template_pod(old_template, self.namespace),
            prefix=prefix,
        )

    @property
    def raw(self) -> Mapping[str, Any]:
        """The whole AdmissionRequest as decoded (do not mutate it)."""
        fields = self._fields
        old = fields.get("oldObject")
        if type(old) is Deferred:
            fields = {**fields, "oldObject": old.value()}
            _set(self, "_fields", fields)
        return fields

    @property
    def raw_old_object(self) -> Any:
        """The decoded `oldObject` (None when absent)."""
        old = self._old
        if type(old) is Deferred:
            old = old.value()
            _set(self, "_old", old)
        return old

    # --- identity -------------------------------------------------------------------------
    @property
    def user(self) -> UserInfo:
        """Who asked (`userInfo`)."""
        user = self._user
        if user is None:
            user = UserInfo.of(self._fields.get("userInfo"))
            _set(self, "_user", user)
        return user

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
        containers = self._containers
        if containers is None:
            containers = _containers_of(self.raw_object)
            _set(self, "_containers", containers)
        return containers

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


def _done(draft: _Fields) -> Request:
    """The finished request: the same object, now of the read-only class."""
    draft.__class__ = Request
    return draft  # type: ignore[return-value]


def with_object(request: Request, obj: Any) -> Request:
    """`request` whose object is `obj` (what validations see after mutations)."""
    return request.derive(raw_object=obj)
