"""Scripted expert opponents that read the rules state, not the text: minimax and Kuhn's equilibrium.

- `MinimaxPolicy` ("minimax"): perfect play for small deterministic perfect-information
  two-player zero-sum games, generic over the Game contract (`clone`, `legal_actions`, `step`,
  `returns`). It solves the whole game tree once, memoised on a state key, and then only looks
  up. Among equally good moves it prefers faster wins and slower losses, and breaks the
  remaining ties with a seeded rng, so it does not play one fixed line.
  What it does not do: games with chance or hidden information (refused with `UnsupportedGame`;
  solving them needs expectimax / CFR), games with more than two players or not zero-sum, and
  games too large to solve exactly (more than `max_states` positions, e.g. connect_four:
  refused with `GameTooLarge`). There is deliberately no depth-limited fallback: it would need a
  game-specific evaluation function and would no longer be the perfect player its name claims.
- `KuhnEquilibriumPolicy` ("kuhn_equilibrium"): a Nash equilibrium of Kuhn Poker, reading its
  card and the betting from the game object.

Both get the live game as `state` from the arena (read-only; minimax explores clones) and answer
through the role's parser like any other policy, so their turns are ordinary `Turn`s.
"""

from __future__ import annotations

import copy
import functools
import pickle
import random
from typing import Hashable

from sparring.agents.policies import _turn
from sparring.agents.roles import Role
from sparring.types import Turn

_NOT_STATE = frozenset({"rng", "_reset_called"})


class UnsupportedGame(ValueError):
    """The game is outside what a scripted player can play (the message says why)."""


class GameTooLarge(UnsupportedGame):
    """Exact minimax would visit more positions than the configured budget."""


def _freeze(value) -> Hashable:
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((repr(k), _freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    return repr(value)


def state_key(game) -> Hashable:
    """A hashable key of a game position: `game.state_key()` if the game defines one, else every
    attribute except the rng. Positions with equal keys must have equal futures."""
    if hasattr(game, "state_key"):
        return (type(game).__name__, game.state_key())
    return (type(game).__name__,) + tuple(sorted((k, _freeze(v)) for k, v in vars(game).items() if k not in _NOT_STATE))


class _NoChance(random.Random):
    """Stands in for a clone's rng during the search: a game that draws chance in `step` trips it."""

    def __init__(self, game_name: str) -> None:
        super().__init__(0)
        self.game_name = game_name

    def random(self) -> float:
        raise UnsupportedGame(f"minimax needs a deterministic game; {self.game_name!r} draws chance during play")

    def getrandbits(self, k: int) -> int:
        return int(self.random())


@functools.lru_cache(maxsize=None)
def _no_chance(game_name: str) -> _NoChance:
    return _NoChance(game_name)  # stateless (every use raises), so one per game is shared


def _clone(game):
    """A copy for the search. Game.clone deep-copies the rng too (~200 us for a tictactoe board);
    the search copies the rules state only (~5 us through pickle) and fits a rng that refuses to
    be used."""
    from sparring.environments import Game

    if type(game).clone is not Game.clone:  # the game knows better how to copy itself
        child = game.clone()
    else:
        child = copy.copy(game)
        state = {k: v for k, v in vars(game).items() if k != "rng"}
        try:
            child.__dict__ = pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))
        except Exception:  # unpicklable attributes (lambdas, ...): the general way
            child.__dict__ = copy.deepcopy(state)
    child.rng = _no_chance(getattr(game, "name", type(game).__name__))
    return child


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _score(player: int, value: tuple[float, int]) -> tuple[float, int]:
    """How good (payoff of player 0, plies to the end) is for `player`: payoff first, then
    faster wins and slower losses."""
    v = value[0] if player == 0 else -value[0]
    return v, -_sign(v) * value[1]


class MinimaxPolicy:
    """Exact minimax with a transposition table; see the module docstring for what it refuses."""

    trainable = False
    name = "minimax"

    def __init__(self, seed: int = 0, max_states: int = 20_000) -> None:
        self.rng = random.Random(seed)
        self.max_states = max_states
        self._values: dict[Hashable, tuple[float, int]] = {}  # key -> (payoff of player 0, plies)

    # ----- resumable state ----------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])

    # ----- applicability ------------------------------------------------------------------
    @staticmethod
    def check_rules(game) -> None:
        """Raise UnsupportedGame unless the game is two-player, zero-sum, perfect-information
        with enumerable actions (chance is caught during the search)."""
        name = getattr(game, "name", type(game).__name__)
        if game.num_players != 2 or not game.zero_sum:
            raise UnsupportedGame(f"minimax plays two-player zero-sum games; {name!r} has "
                                  f"{game.num_players} players, zero_sum={game.zero_sum}")
        # Game.private_info(player) is None when the moves say everything (perfect information)
        private = getattr(game, "private_info", lambda p: None)
        if any(private(p) is not None for p in range(game.num_players)):
            hint = "; kuhn_equilibrium plays it" if name == "kuhn_poker" else ""
            raise UnsupportedGame(f"minimax needs perfect information; {name!r} has private information{hint}")
        if not game.done and game.legal_actions() is None:
            raise UnsupportedGame(f"minimax needs enumerable legal actions; {name!r} takes free text")

    @classmethod
    def check_game(cls, game: str, game_options: dict | None = None, max_states: int = 20_000) -> None:
        """Raise UnsupportedGame / GameTooLarge unless minimax can play `game` (solves it once)."""
        from sparring.environments import make

        g = make(game, **(game_options or {}))
        g.reset(seed=0)
        cls(max_states=max_states).solve(g)

    # ----- search -------------------------------------------------------------------------
    def solve(self, game) -> tuple[float, int]:
        """(payoff of player 0, plies to the end) under perfect play from this position."""
        self.check_rules(game)
        try:
            return self._value(game)
        except RecursionError:
            raise GameTooLarge(f"minimax: {game.name!r} is too deep to solve exactly") from None

    def _value(self, game) -> tuple[float, int]:
        key = state_key(game)
        known = self._values.get(key)
        if known is not None:
            return known
        if game.done:
            value = (float(game.returns()[0]), 0)
        else:
            player = game.current_player
            best = None
            for child in self._children(game).values():
                v = self._value(child)
                v = (v[0], v[1] + 1)
                if best is None or _score(player, v) > _score(player, best):
                    best = v
            value = best
        if len(self._values) >= self.max_states:
            raise GameTooLarge(
                f"minimax: {game.name!r} has more than {self.max_states:,} positions (max_states); exact search "
                "is for small games (tictactoe, nim), and there is no depth-limited fallback")
        self._values[key] = value
        return value

    @staticmethod
    def _children(game) -> dict[str, object]:
        children = {}
        for action in game.legal_actions():
            child = _clone(game)
            child.step(action)
            children[action] = child
        return children

    def best_actions(self, game) -> list[str]:
        """Every optimal action (payoff first, then faster wins / slower losses)."""
        self.solve(game)
        player = game.current_player
        scored = {a: _score(player, (v[0], v[1] + 1))
                  for a, c in self._children(game).items() for v in [self._value(c)]}
        top = max(scored.values())
        return [a for a, s in scored.items() if s == top]

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        if state is None:
            raise UnsupportedGame("minimax needs the game state (the arena passes it)")
        action = self.rng.choice(self.best_actions(state))
        return _turn(role, player, role.format_action(action), legal, False)


class KuhnEquilibriumPolicy:
    """A Nash equilibrium of Kuhn Poker (Kuhn 1950; the standard parametrisation, e.g. Wikipedia
    "Kuhn poker"), for one free parameter alpha in [0, 1/3]:

    first to act   J: bet with prob alpha; after check-bet fold.
                   Q: check; after check-bet call with prob alpha + 1/3.
                   K: bet with prob 3 * alpha; after check-bet call.
    second to act  facing a bet:   J fold, Q call with prob 1/3, K call.
                   facing a check: J bet with prob 1/3 (bluff), Q check, K bet.

    Every alpha gives the first mover the game value -1/18 per hand. The sparring game
    alternates who acts first across hands (`state.first`), so the position is worked out per
    hand. The card and the betting come from the game object (`state.cards`, `state.history`,
    `state.first`), never from the observation text.
    """

    trainable = False
    name = "kuhn_equilibrium"

    def __init__(self, alpha: float = 1 / 6, seed: int = 0) -> None:
        if not 0.0 <= alpha <= 1 / 3:
            raise ValueError(f"kuhn_equilibrium: alpha must be in [0, 1/3], got {alpha}")
        self.alpha = alpha
        self.rng = random.Random(seed)

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])

    def action_probs(self, state, player: int) -> dict[str, float]:
        """The equilibrium's distribution over the legal actions of `player` in this hand."""
        if not all(hasattr(state, a) for a in ("cards", "history", "first")):
            raise UnsupportedGame(f"kuhn_equilibrium plays kuhn_poker only, not {getattr(state, 'name', state)!r}")
        card, history, a = state.cards[player], tuple(state.history), self.alpha
        first_to_act = (player - state.first) % 2 == 0
        table = {  # probability of the aggressive action (bet / call) by position, history and card
            (True, ()): {"J": a, "Q": 0.0, "K": 3 * a},
            (False, ("check",)): {"J": 1 / 3, "Q": 0.0, "K": 1.0},
            (False, ("bet",)): {"J": 0.0, "Q": 1 / 3, "K": 1.0},
            (True, ("check", "bet")): {"J": 0.0, "Q": a + 1 / 3, "K": 1.0},
        }
        p = table.get((first_to_act, history))
        if p is None:
            raise UnsupportedGame(f"kuhn_equilibrium: no rule for history {list(history)} (player {player})")
        if history and history[-1] == "bet":
            return {"call": p[card], "fold": 1.0 - p[card]}
        return {"bet": p[card], "check": 1.0 - p[card]}

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        if state is None:
            raise UnsupportedGame("kuhn_equilibrium needs the game state (the arena passes it)")
        probs = self.action_probs(state, player)
        actions = [x for x in legal if x in probs] if legal else sorted(probs)
        action = self.rng.choices(actions, weights=[probs[x] for x in actions])[0]
        return _turn(role, player, role.format_action(action), legal, False)
