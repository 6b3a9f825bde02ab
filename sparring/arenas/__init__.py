"""Turn loops that make agents interact and emit Episodes with per-role rewards.

`Arena` is the plugin base class and `register_arena(kind)` its registry (see base.py); the
built-in kinds are `game` (GameArena) and `absolute_zero` (AbsoluteZeroArena).
"""

from sparring.arenas.base import Arena, ArenaContext, arena_class, arena_kinds, build_arena, register_arena
from sparring.arenas.game_arena import GameArena, GameArenaConfig, InvalidActionRule
from sparring.arenas import absolute_zero, tasks  # noqa: F401  (registers the absolute_zero and tasks kinds)

__all__ = ["Arena", "ArenaContext", "GameArena", "GameArenaConfig", "InvalidActionRule", "arena_class", "arena_kinds",
           "build_arena", "register_arena"]
