"""The base class for turn-based, text-first games: a game author writes only the rules.

`Game` owns the contract from DESIGN.md (reset/step/current_player/legal_actions/observation/
done/returns), validates every action against `legal_actions()` and counts turns; a subclass
fills six hooks: `setup`, `to_move`, `legal_actions`, `apply`, `observation`, and `outcome`.
Two optional hooks serve the checker (and tools that need them): `private_info` says what a
player knows beyond the public moves (so leaks can be tested), and `sample_action` draws a random
legal action (free-text games must write it). No torch here and no model: environments are pure
rules, so they are cheap to test and copy.
"""

from __future__ import annotations

import copy
import random
from abc import ABC, abstractmethod
from typing import ClassVar, Hashable


class IllegalAction(ValueError):
    """An action string that is not legal in the current state (arenas decide what it costs)."""


class GameOver(RuntimeError):
    """`step` was called after the game had ended."""


class Game(ABC):
    """A turn-based game. Subclasses declare properties and implement the rules hooks.

    Declared properties (checked by `sparring.environments.check`):
      name        registry name
      num_players number of seats
      zero_sum    returns sum to 0 at the end of every game
      max_turns   upper bound on `step` calls in one game (a property may compute it)
    """

    name: ClassVar[str] = ""
    num_players: ClassVar[int] = 2
    zero_sum: ClassVar[bool] = True
    max_turns: int = 0

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.turn = 0
        self._reset_called = False

    # ----- the contract (do not override) -------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Start a new game; the same seed gives the same game."""
        self.rng = random.Random(seed)
        self.turn = 0
        self._reset_called = True
        self.setup()

    @property
    def done(self) -> bool:
        self._require_reset()
        return self.outcome() is not None

    @property
    def current_player(self) -> int | None:
        """The player to act, or None when the game is over."""
        return None if self.done else self.to_move()

    def step(self, action: str) -> None:
        """Apply the current player's action; raise IllegalAction if it is not legal."""
        if self.done:
            raise GameOver(f"{self.name}: step({action!r}) after the game ended")
        legal = self.legal_actions()
        if legal is not None and action not in legal:
            raise IllegalAction(f"{self.name}: {action!r} is not legal; legal: {legal}")
        self.apply(action)
        self.turn += 1

    def returns(self) -> list[float]:
        """One payoff per player; zeros while the game is running."""
        result = self.outcome()
        return list(result) if result is not None else [0.0] * self.num_players

    def clone(self) -> "Game":
        """An independent copy of the full state (rng included).

        The rng is copied through its state tuple: deep-copying a `random.Random` costs ~280 us,
        ten times the rest of a TicTacToe board, and warm-start rollouts clone per simulation."""
        rng = random.Random()
        rng.setstate(self.rng.getstate())
        return copy.deepcopy(self, {id(self.rng): rng})

    # ----- the rules hooks (a game author writes these) -----------------------------------
    @abstractmethod
    def setup(self) -> None:
        """Set the initial state; draw any randomness from `self.rng`."""

    @abstractmethod
    def to_move(self) -> int:
        """The player to act (only called while the game is running)."""

    @abstractmethod
    def legal_actions(self) -> list[str] | None:
        """Canonical legal action strings, or None when any free text is accepted."""

    @abstractmethod
    def apply(self, action: str) -> None:
        """Apply a legal action of the player to move."""

    @abstractmethod
    def observation(self, player: int) -> str:
        """What `player` may see: the rules, their private and the public state, legal actions."""

    @abstractmethod
    def outcome(self) -> list[float] | None:
        """Final payoffs when the game is over, else None."""

    # ----- optional hooks (the defaults fit perfect-information games with listed actions) ---
    def private_info(self, player: int) -> Hashable:
        """What `player` knows beyond the public action history: its own hidden state (cards,
        dice, values) and any chance outcome shown to it (a public random deal, showdown cards).

        `observation(player)` must be a function of the action history and this value alone;
        the checker plays deals that agree on both and fails on any observation that differs,
        i.e. one that depends on another player's secret. None: the moves say everything.
        """
        return None

    def private_note(self, player: int) -> str | None:
        """`player`'s private information in a few plain words (Kuhn Poker: the card, "J"), which
        a role with `prompt.restate` writes before its answer; no brackets, braces or tags. None:
        nothing to restate (the default; such games refuse prompt.restate)."""
        return None

    def sample_action(self, rng: random.Random) -> str:
        """A random legal action for the player to move (random play, checks, warm-start data).

        Free-text games (`legal_actions()` is None) must override this; draw only from `rng`.
        """
        legal = self.legal_actions()
        if legal is None:
            raise NotImplementedError(f"{self.name}: a free-text game must implement sample_action(rng)")
        return rng.choice(legal)

    # ----------------------------------------------------------------------------------------
    def _require_reset(self) -> None:
        if not self._reset_called:
            raise RuntimeError(f"{self.name}: call reset(seed) before using the game")
