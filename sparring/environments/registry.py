"""Name -> game class registry behind `make` and `names`."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from sparring.registry import Registry

_GAMES: Registry[type] = Registry("game")
_REGISTRY: dict[str, type] = _GAMES._items
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


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the game available as `make(name)`. A second, different class under
    a taken name is refused with both places named; re-running the same definition is allowed."""
    return _GAMES.decorator(name)


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


def _openspiel(spec: str, **options: Any):
    from sparring.environments.openspiel_adapter import OpenSpielGame  # lazy: optional extra

    return OpenSpielGame(spec, **options)


register_prefix("openspiel", _openspiel)
