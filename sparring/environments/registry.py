"""Name -> game class registry behind `make` and `names`."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

_REGISTRY: dict[str, type] = {}
_PREFIXES: dict[str, Callable[..., Any]] = {}
T = TypeVar("T", bound=type)


def register_prefix(prefix: str, factory: Callable[..., Any]) -> None:
    """Route `make("<prefix>:<rest>", **options)` to `factory(rest, **options)`.

    For adapters that open a whole family of games without registering each one (e.g.
    "textarena:TicTacToe-v0"); `names()` still lists only the concrete registered games.
    """
    if _PREFIXES.get(prefix, factory) is not factory:
        raise ValueError(f"game prefix {prefix!r} is already registered by {_PREFIXES[prefix]}")
    _PREFIXES[prefix] = factory


def _textarena(env_id: str, **options: Any):
    from sparring.environments.textarena_adapter import TextArenaGame  # lazy: optional extra

    return TextArenaGame(env_id, **options)


register_prefix("textarena", _textarena)


def _same_definition(a: type, b: type) -> bool:
    """The same class statement executed again (a module re-imported, a notebook cell re-run)."""
    import inspect

    try:
        return a.__qualname__ == b.__qualname__ and inspect.getsourcefile(a) == inspect.getsourcefile(b)
    except TypeError:
        return False


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the game available as `make(name)`."""

    def deco(cls: T) -> T:
        old = _REGISTRY.get(name)
        if old is not None and old is not cls and not _same_definition(old, cls):
            raise ValueError(f"game name {name!r} is already registered by {old}")
        _REGISTRY[name] = cls
        return cls

    return deco


def make(name: str, **options: Any):
    """A new game instance by registry name, with game options (e.g. hands=3)."""
    prefix, sep, rest = name.partition(":")
    if sep and name not in _REGISTRY and prefix in _PREFIXES:
        return _PREFIXES[prefix](rest, **options)
    if name not in _REGISTRY:
        raise KeyError(f"unknown game {name!r}; registered games: {sorted(_REGISTRY)}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as e:
        raise ValueError(f"bad options for game {name!r}: {e}") from e


def names() -> list[str]:
    return sorted(_REGISTRY)
