"""Turn loops that make agents interact and emit Episodes with per-role rewards.

`Arena` is the plugin base class and `register_arena(kind)` its registry (see base.py); the
built-in kinds are `game` (GameArena), `absolute_zero` (AbsoluteZeroArena), `tasks` (TaskArena)
and `corpus` (CorpusArena).
"""

from sparring.arenas.base import Arena, ArenaContext, arena_class, arena_kinds, build_arena, register_arena
from sparring.arenas.game_arena import GameArena, GameArenaConfig, InvalidActionRule
from sparring.arenas import absolute_zero, corpus, tasks  # noqa: F401  (registers the absolute_zero, corpus and tasks kinds)

__all__ = ["Arena", "ArenaContext", "GameArena", "GameArenaConfig", "InvalidActionRule", "arena_class", "arena_kinds",
           "build_arena", "register_arena"]
