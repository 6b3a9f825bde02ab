"""Name -> object registries behind every extension point (games, arena kinds, estimators, engines).

A registry refuses a second, different object under a taken name and names both places (module,
qualified name, file and line), so two plugins that collide say where. Registering the same
definition again (a module re-imported, a notebook cell re-run) is allowed and replaces it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


def where(obj: Any) -> str:
    """'module.qualname (file:line)' of a class or function, for error messages."""
    name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    try:
        file = inspect.getsourcefile(obj)
        line = inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return name
    return f"{name} ({file}:{line})"


def _same_definition(a: Any, b: Any) -> bool:
    try:
        return a.__qualname__ == b.__qualname__ and inspect.getsourcefile(a) == inspect.getsourcefile(b)
    except (AttributeError, TypeError):
        return False


class Registry(Generic[T]):
    """Objects by name; `what` names the kind of thing in error messages ("arena kind", ...)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} needs a non-empty string name, got {name!r}")
        old = self._items.get(name)
        if old is not None and old is not obj and not _same_definition(old, obj):
            raise ValueError(f"{self.what} {name!r} is already registered by {where(old)}; "
                             f"cannot register {where(obj)} under the same name")
        self._items[name] = obj
        return obj

    def decorator(self, name: str) -> Callable[[T], T]:
        return lambda obj: self.add(name, obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}; registered: {self.names()}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return sorted(self._items)
