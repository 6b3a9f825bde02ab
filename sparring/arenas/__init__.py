"""Turn loops that make agents interact and emit Episodes with per-role rewards."""

from sparring.arenas.game_arena import GameArena, InvalidActionRule

__all__ = ["GameArena", "InvalidActionRule"]
