"""Read-only views over decoded JSON with safe navigation.

`pod.spec.securityContext.runAsNonRoot` walks dicts by attribute; anything absent is `MISSING`,
which is falsy, equal to None, iterates as empty and keeps absorbing attribute access. Views wrap
the decoded document in place: nothing is copied on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any


class _Missing:
    """The value of an absent field: falsy, `== None`, empty, and navigable."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:  # not __getattr__: see View.__getattribute__
        if name[:2] == "__" or name == "get":
            return object.__getattribute__(self, name)
        return self

    def __getitem__(self, key: object) -> _Missing:
        return self

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is None or other is self

    def __hash__(self) -> int:
        return hash(None)

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, item: object) -> bool:
        return False

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def wrap(value: Any) -> Any:
    """Views for containers, the value itself for scalars."""
    if isinstance(value, dict):
        return View(value)
    if isinstance(value, list):
        return ListView(value)
    return value


class View:
    """A read-only, attribute-navigable view of a JSON object.

    Deliberately not a `Mapping`: Kubernetes objects have fields named `items` and `values`, so
    `view.items` is the field. Use `view.raw.items()` to iterate pairs; `dict(view)` works.
    The view's own attributes (`raw`, `get`, `keys`, a subclass's) win over fields of the same
    name; other names read the field, `MISSING` when absent.
    """

    __slots__ = ("_raw",)
    _own: frozenset[str] = frozenset()  # every attribute name the class defines (set below)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._own = frozenset(dir(cls))

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    # Field access is the hot path of every rule. A Python `__getattr__` runs only after the
    # normal lookup has failed, and on Python 3.11 that failure builds an AttributeError first
    # (about 0.5 µs per field); looking fields up first and falling back to the class costs
    # a fraction of that.
    def __getattribute__(self, name: str) -> Any:
        if name in type(self)._own:
            return _attribute(self, name)
        value = _raw_of(self).get(name, MISSING)
        kind = type(value)
        if kind is str or kind is int or kind is bool:  # the common leaves, unwrapped at once
            return value
        if value is MISSING:
            if name[:2] == "__":  # copy, pickle and friends probing for optional hooks
                return _attribute(self, name)
            return MISSING
        return wrap(value)

    @property
    def raw(self) -> Mapping[str, Any]:
        """The underlying decoded object (do not mutate it)."""
        return _raw_of(self)

    def __getitem__(self, key: str) -> Any:
        return wrap(_raw_of(self)[key])

    def get(self, key: str, default: Any = None) -> Any:
        raw = _raw_of(self)
        if key in raw:
            return wrap(raw[key])
        return default

    def keys(self) -> Iterable[str]:
        return _raw_of(self).keys()

    def __iter__(self) -> Iterator[str]:
        return iter(_raw_of(self))

    def __len__(self) -> int:
        return len(_raw_of(self))

    def __bool__(self) -> bool:
        return bool(_raw_of(self))

    def __contains__(self, key: object) -> bool:
        return key in _raw_of(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, View):
            return bool(_raw_of(self) == _raw_of(other))
        return bool(_raw_of(self) == other)

    __hash__ = None  # type: ignore[assignment]  # compares by content and is not frozen: like dict

    def __repr__(self) -> str:
        return f"View({_raw_of(self)!r})"


_attribute = object.__getattribute__
# The slot's own reader, bypassing the hook above.
_raw_of: Callable[[View], Mapping[str, Any]] = View.__dict__["_raw"].__get__
View._own = frozenset(dir(View))


class ListView(tuple[Any, ...]):
    """A read-only view of a JSON array whose items are views."""

    __slots__ = ()

    def __new__(cls, raw: list[Any]) -> ListView:
        return super().__new__(cls, (wrap(v) for v in raw))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return MISSING
