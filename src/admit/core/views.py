"""Read-only views over decoded JSON with safe navigation.

`pod.spec.securityContext.runAsNonRoot` walks dicts by attribute; anything absent is `MISSING`,
which is falsy, equal to None, iterates as empty and keeps absorbing attribute access. Views wrap
the decoded document in place: nothing is copied on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class _Missing:
    """The value of an absent field: falsy, `== None`, empty, and navigable."""

    __slots__ = ()

    def __getattr__(self, name: str) -> _Missing:
        if name.startswith("__"):
            raise AttributeError(name)
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
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def raw(self) -> Mapping[str, Any]:
        """The underlying decoded object (do not mutate it)."""
        return self._raw

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._raw.get(name, MISSING)
        return value if value is MISSING else wrap(value)

    def __getitem__(self, key: str) -> Any:
        return wrap(self._raw[key])

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._raw:
            return wrap(self._raw[key])
        return default

    def keys(self) -> Iterable[str]:
        return self._raw.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __bool__(self) -> bool:
        return bool(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __eq__(self, other: object) -> bool:
        if isinstance(other, View):
            return self._raw == other._raw
        return self._raw == other

    def __hash__(self) -> int:
        return id(self._raw)

    def __repr__(self) -> str:
        return f"View({self._raw!r})"


class ListView(tuple[Any, ...]):
    """A read-only view of a JSON array whose items are views."""

    __slots__ = ()

    def __new__(cls, raw: list[Any]) -> ListView:
        return super().__new__(cls, (wrap(v) for v in raw))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return MISSING
