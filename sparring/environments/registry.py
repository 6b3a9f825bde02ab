"""Name -> game class registry behind `make` and `names`."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the game available as `make(name)`."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"game name {name!r} is already registered by {_REGISTRY[name]}")
        _REGISTRY[name] = cls
        return cls

    return deco


def make(name: str, **options: Any):
    """A new game instance by registry name, with game options (e.g. hands=3)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown game {name!r}; registered games: {sorted(_REGISTRY)}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as e:
        raise ValueError(f"bad options for game {name!r}: {e}") from e


def names() -> list[str]:
    return sorted(_REGISTRY)
