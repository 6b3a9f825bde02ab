"""Name -> game class registry behind `make` and `names`."""

from __future__ import annotations

import functools
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


class UnknownGame(KeyError, ValueError):
    """A game name nobody registered. A ValueError like bad options, so one `except ValueError`
    catches every mistake in a user's game spec; a KeyError for older callers."""

    def __str__(self) -> str:
        return str(self.args[0])


def make(name: str, **options: Any):
    """A new game instance by registry name, with game options (e.g. hands=3); a ValueError names
    an unknown game (UnknownGame) or options the game does not take."""
    prefix, sep, rest = name.partition(":")
    if name not in _REGISTRY and not (sep and prefix in _PREFIXES):
        raise UnknownGame(f"unknown game {name!r}; registered games: {sorted(_REGISTRY)}")
    build = _REGISTRY.get(name) or functools.partial(_PREFIXES[prefix], rest)
    try:
        return build(**options)
    except UnknownGame:
        raise
    except KeyError as e:  # a prefix's adapter that cannot find the game it names
        raise UnknownGame(str(e.args[0]) if e.args else f"unknown game {name!r}") from e
    except TypeError as e:
        raise ValueError(f"bad options for game {name!r}: {e}") from e


def names() -> list[str]:
    return sorted(_REGISTRY)


def _openspiel(spec: str, **options: Any):
    from sparring.environments.openspiel_adapter import OpenSpielGame  # lazy: optional extra

    return OpenSpielGame(spec, **options)


register_prefix("openspiel", _openspiel)
