"""Pure game rules and tasks (no torch, no model). See DESIGN.md for the contract."""

from sparring.environments.base import Game, GameOver, IllegalAction
from sparring.environments.registry import make, names, register
from sparring.environments import kuhn_poker  # noqa: F401  (registers the game)
from sparring.environments import tictactoe  # noqa: F401
from sparring.environments import connect_four, liars_dice, simple_negotiation  # noqa: F401
from sparring.environments.checker import check

__all__ = ["Game", "GameOver", "IllegalAction", "make", "names", "register", "check"]
