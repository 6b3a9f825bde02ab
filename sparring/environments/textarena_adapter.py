"""TextArena adapter: any installed TextArena env id as a sparring `Game` (`make("textarena:<id>")`).

`TextArenaGame("TicTacToe-v0")` wraps `textarena.make(id)` (with TextArena's own wrappers for that
id, so "-train" and "-raw" variants keep their views) behind the sparring contract:

- Observations are the text TextArena shows a player: `observation(p)` for the player to move is
  what `env.get_observation()` returned this turn (its observation wrapper accumulates the
  history); for any other player it is what TextArena would show them now, read from a copy.
- Actions are free text (`legal_actions()` is None) unless candidates are known: a small table
  for a few games (TicTacToe, KuhnPoker, ConnectFour, Nim) or `actions=[...]`. Candidates are
  checked by the env itself on a copy, so `legal_actions()` is exactly the subset TextArena
  accepts now (never parsed out of prompt text), and the mover's observation then ends with
  `Legal actions: [a] [b] ...`. `actions="free"` keeps the candidates only for
  `sample_action` (checker, random play) and leaves the answer free text.
- Brackets: `Role.parse` returns the content of the first `[...]`, TextArena expects the
  brackets, so an action without any bracket is sent as `[action]` (what TextArena's
  ActionFormattingWrapper does; `bracket_actions=False` sends it verbatim).
- Invalid moves: TextArena reports them through `state.set_invalid_move` and then mutates its
  state (warning message, retry counter, or a loss). The adapter steps a copy and commits it
  only when the move was valid; otherwise it raises `IllegalAction` with TextArena's reason and
  the game is unchanged, so the arena's invalid-action rule alone decides the cost. An exception
  inside TextArena's `step` is also an `IllegalAction` (untrusted text must not crash a run).
  Envs that punish a bad move by their own rules without `set_invalid_move` keep that rule
  (Snake and Surround: the snake dies).
- Randomness: TextArena draws from the global `random`. Every call into the env runs with this
  game's own generator state swapped in, so a seed gives the same game however many other games
  run in the process (not thread-safe). numpy's global generator is not isolated: only envs that
  do not run offline here use it (SpellingBee, IteratedStagHunt).
- Returns are TextArena's rewards. `zero_sum` is inferred: True for two-player envs on
  `TwoPlayerState` (they end with +1/-1 or 0/0) except those in `NOT_ZERO_SUM`; False otherwise.
- Turn limit: TextArena's own limits end games by TextArena's rules. `max_turns` (default
  `max(DEFAULT_TURN_CAP, num_players * env limit)`) is a safety cap: a game still running after
  that many steps ends as a draw, all returns 0.0, `info["turn_cap"] = True`.

What it does not do: it provides no TextArena data or network. Envs that need an LLM judge or
OpenRouter key (Debate, GuessWho, TwentyQuestions, ScenarioPlanning), NLTK corpora (Hangman,
Wordle, WordLadder, WordSearch, WordChains, SpellingBee, DontSayIt, LetterAuction, Codenames), other
packages (BabyAiText needs gym) or missing data files (ScorableGames, UsedCarNegotiation), and
envs that fail to import in textarena 0.7.4 itself (Chess, Checkers, ReverseTicTacToe,
IteratedStagHunt, UltimateTexasHoldem, Klondike, CharacterConclave) fail at construction with an
error naming the env and the cause. textarena is imported lazily: sparring works without it.
"""

from __future__ import annotations

import copy
import difflib
import logging
import pickle
import random
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator, Sequence

from sparring.environments.base import Game, IllegalAction

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install sparring[textarena]"
DEFAULT_TURN_CAP = 200
PLAYER_COUNTS = (2, 1, 3, 4, 5, 6, 7, 8)  # tried in this order when num_players is not given
NOT_ZERO_SUM = frozenset({"UsedCarNegotiationEnv"})  # two-player envs with role-dependent payoffs

# Canonical candidate actions (without brackets) per TextArena env class, for games whose moves
# are a small known set; the env decides which of them are legal in each state.
CANDIDATES: dict[str, Callable[[Any], list[str]]] = {
    "TicTacToeEnv": lambda env: [str(cell) for cell in range(9)],
    "KuhnPokerEnv": lambda env: ["check", "bet", "call", "fold"],
    "ConnectFourEnv": lambda env: [f"col {c}" for c in range(env.num_cols)],
    "NimEnv": lambda env: [f"{i} {q}" for i, n in enumerate(env.initial_piles) for q in range(1, n + 1)],
}

_PROBES: dict[tuple, tuple[int, str, int | None]] = {}  # (id, kwargs, players) -> probe result


def _textarena():
    try:
        import textarena
    except ImportError as e:
        raise ImportError(f"the TextArena adapter needs the textarena package: {INSTALL_HINT}") from e
    return textarena


def _base_env(env):
    """The innermost TextArena env under its wrappers (the one that owns `state`)."""
    wrapper = _textarena().Wrapper
    while isinstance(env, wrapper):
        env = env.env
    return env


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip(" *") for line in text.splitlines() if line.strip(" *")]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


class _RNGs:
    """This game's state of the global `random` generator that TextArena draws from."""

    def __init__(self, seed: int) -> None:
        self.py = self._fresh = random.Random(seed).getstate()

    def untouched(self) -> bool:
        """No number drawn since seeding: so far the game is a function of the moves alone."""
        return self.py == self._fresh

    @contextmanager
    def active(self) -> Iterator[None]:
        outer = random.getstate()
        random.setstate(self.py)
        try:
            yield
        finally:
            self.py = random.getstate()
            random.setstate(outer)


def _flatten(env) -> tuple[list, Any]:
    """(wrapper layers outside-in as (class, attributes), base env): a picklable form."""
    layers, wrapper = [], _textarena().Wrapper
    while isinstance(env, wrapper):
        layers.append((type(env), {k: v for k, v in vars(env).items() if k != "env"}))
        env = env.env
    return layers, env


def _rebuild(layers: list, env):
    for cls, attrs in reversed(layers):
        outer = object.__new__(cls)  # not cls(env): wrappers' __init__ may take more arguments
        outer.__dict__.update(attrs, env=env)
        env = outer
    return env


def _copy_env(env):
    """An independent copy of a wrapped env; pickle is ~6x faster than deepcopy here."""
    try:
        return _rebuild(*pickle.loads(pickle.dumps(_flatten(env), pickle.HIGHEST_PROTOCOL)))
    except Exception:  # noqa: BLE001 (an env holding something unpicklable)
        return copy.deepcopy(env)


class TextArenaGame(Game):
    """One TextArena env behind the sparring `Game` contract (see the module docstring).

    env_id:          a TextArena id, e.g. "TicTacToe-v0", "KuhnPoker-v0-short", "Nim-v0-raw"
    num_players:     seats; default: the first of PLAYER_COUNTS the env accepts
    max_turns:       safety cap on steps, reached = draw (default from the env's own limit)
    actions:         candidate actions: "auto" (the CANDIDATES table, else none), a list of
                     canonical actions, or "free" (table candidates kept for `sample_action`,
                     but `legal_actions()` is None: the model answers in free text)
    bracket_actions: send an action without brackets as "[action]"
    zero_sum:        override the inferred value
    **env_kwargs:    passed to `textarena.make` (e.g. max_rounds=1 for KuhnPoker)
    """

    def __init__(
        self,
        env_id: str,
        *,
        num_players: int | None = None,
        max_turns: int | None = None,
        actions: str | Sequence[str] = "auto",
        bracket_actions: bool = True,
        zero_sum: bool | None = None,
        **env_kwargs: Any,
    ) -> None:
        super().__init__()
        self.env_id = env_id
        self.name = f"textarena:{env_id}"
        self.env_kwargs = dict(env_kwargs)
        self.bracket_actions = bracket_actions
        self._env = self._make_env()
        players, state_kind, env_limit = self._probe(num_players)
        self.num_players = players
        self.zero_sum = (
            bool(zero_sum) if zero_sum is not None
            else state_kind == "TwoPlayerState" and type(self._base).__name__ not in NOT_ZERO_SUM
        )
        if max_turns is not None and max_turns < 1:
            raise ValueError(f"{self.name}: max_turns must be >= 1, got {max_turns}")
        self.max_turns = max_turns or max(DEFAULT_TURN_CAP, players * (env_limit or 0))
        self._candidates = self._candidate_actions(actions)
        self._listed = actions != "free" and self._candidates is not None
        self._rngs = _RNGs(0)
        self._shown: dict[int, str] = {}  # what get_observation() gave the player to move
        self._views: dict[int, str] = {}  # the other seats' views of this state (cache)
        self._log: dict[int, list] = {}  # every message TextArena addressed to each player
        self._queued: dict[int, int] = {}  # how many of state.observations[p] are in _log
        self._accepted: tuple[int, dict[str, tuple]] | None = None  # turn -> stepped copies

    # ----- construction ---------------------------------------------------------------------
    def _make_env(self):
        ta = _textarena()
        from textarena.envs.registration import ENV_REGISTRY

        if self.env_id not in ENV_REGISTRY:
            close = difflib.get_close_matches(self.env_id, list(ENV_REGISTRY), n=5)
            raise KeyError(f"unknown TextArena env id {self.env_id!r}; close matches: {close}")
        try:
            return ta.make(self.env_id, **self.env_kwargs)
        except TypeError as e:
            raise ValueError(f"bad options for {self.name}: {e}") from e
        except Exception as e:
            raise RuntimeError(f"{self.name} cannot be loaded ({_first_line(e)}); it may need packages, "
                               f"data or network access this adapter does not provide") from e

    @property
    def _base(self):
        return _base_env(self._env)

    def _probe(self, num_players: int | None) -> tuple[int, str, int | None]:
        """Seats, state class and turn limit from one throwaway reset (cached per id and options)."""
        key = (self.env_id, repr(sorted(self.env_kwargs.items())), num_players)
        if key not in _PROBES:
            counts = (num_players,) if num_players is not None else PLAYER_COUNTS
            errors = []
            for n in counts:
                try:
                    with _RNGs(0).active():
                        self._env.reset(num_players=n, seed=0)
                except Exception as e:  # noqa: BLE001 (the env's way of refusing a seat count)
                    errors.append(f"{n} players: {_first_line(e)}")
                    continue
                state = self._base.state
                _PROBES[key] = (n, type(state).__name__, getattr(state, "max_turns", None))
                break
            else:
                raise RuntimeError(f"{self.name} could not start offline: " + "; ".join(errors))
        return _PROBES[key]

    def _candidate_actions(self, actions: str | Sequence[str]) -> list[str] | None:
        if actions in ("auto", "free"):
            table = CANDIDATES.get(type(self._base).__name__)
            return table(self._base) if table is not None else None
        if isinstance(actions, str) or not actions or not all(isinstance(a, str) and a for a in actions):
            raise ValueError(f"{self.name}: actions must be 'auto', 'free' or a non-empty list of strings")
        return list(dict.fromkeys(actions))

    # ----- rules hooks ----------------------------------------------------------------------
    def setup(self) -> None:
        seed = self.rng.randrange(2**32)
        self._rngs = _RNGs(seed)
        with self._rngs.active():
            self._env = self._make_env()  # fresh: TextArena's wrappers keep history across resets
            self._env.reset(num_players=self.num_players, seed=seed)
        self._log = {p: [] for p in range(self.num_players)}
        self._queued = {p: 0 for p in range(self.num_players)}
        self._settle()

    def to_move(self) -> int:
        return int(self._base.state.current_player_id)

    def legal_actions(self) -> list[str] | None:
        return list(self._accepted_now()) if self._listed else None

    def apply(self, action: str) -> None:
        accepted = self._accepted_now() if self._candidates is not None else {}
        if action in accepted:
            env, rngs, reason = accepted[action]  # already stepped while listing the legal actions
        else:
            env, rngs, reason = self._attempt(action)
        if reason is not None:
            raise IllegalAction(f"{self.name}: {self.env_text(action)!r} rejected: {reason}")
        self._env, self._rngs = env, rngs
        self._settle()

    def observation(self, player: int) -> str:
        if not 0 <= player < self.num_players:
            raise ValueError(f"{self.name}: no player {player} (num_players={self.num_players})")
        state = self._base.state
        if not state.done and player == state.current_player_id and player in self._shown:
            text = self._shown[player]
            if self._listed:
                text += "\nLegal actions: " + " ".join(f"[{a}]" for a in self._accepted_now())
            return text
        if player not in self._views:  # another seat, or the game is over: what TextArena
            env, rngs = _copy_env(self._env), copy.copy(self._rngs)  # would show them now
            _base_env(env).state.current_player_id = player
            with rngs.active():
                self._views[player] = str(env.get_observation()[1])
        return self._views[player]

    def outcome(self) -> list[float] | None:
        state = self._base.state
        if state.done:
            rewards = state.rewards
            missing = [p for p in range(self.num_players) if not rewards or p not in rewards]
            if missing:
                raise RuntimeError(f"{self.name}: TextArena ended the game without rewards for {missing}")
            return [float(rewards[p]) for p in range(self.num_players)]
        if self.turn >= self.max_turns:
            return [0.0] * self.num_players
        return None

    def private_info(self, player: int) -> Hashable:
        """None while the env has drawn no random number this game (then the moves determine
        everything); else every message TextArena addressed to `player` except the players'
        actions (the public history): its prompt, private deals and chance outcomes it was
        shown. Generic, so the checker's leak test confirms that observations hold nothing
        beyond what TextArena sent to that player; whether TextArena sends a secret to the
        wrong player is TextArena's to test."""
        if self._rngs.untouched():
            return None  # no chance so far: the moves say everything
        self._update_log()
        return tuple((sender, text) for sender, text, kind in self._log[player] if kind.name != "PLAYER_ACTION")

    def sample_action(self, rng: random.Random) -> str:
        """A random candidate TextArena accepts now (free-text envs need known candidates)."""
        if self._candidates is None:
            raise NotImplementedError(f"{self.name}: no known candidate actions to sample from; "
                                      f"pass actions=[...] (canonical actions, without brackets)")
        accepted = list(self._accepted_now())
        if not accepted:
            raise RuntimeError(f"{self.name}: TextArena accepts none of the candidates {self._candidates}")
        return rng.choice(accepted)

    # ----- helpers --------------------------------------------------------------------------
    @property
    def info(self) -> dict:
        """TextArena's per-player game info (reason, invalid_move, ...) and whether the cap hit."""
        state = self._base.state
        return {"players": copy.deepcopy(state.game_info), "turn_cap": not state.done and self.done}

    def env_text(self, action: str) -> str:
        """The text sent to TextArena for a canonical action (brackets added if it has none)."""
        if self.bracket_actions and "[" not in action and "]" not in action:
            return f"[{action}]"
        return action

    def _settle(self) -> None:
        """After a reset or step: log new messages, then run TextArena's `get_observation()` once
        for the player to move (it drains that player's messages, as in TextArena's own loop)."""
        self._accepted = None
        self._shown = {}
        self._views = {}
        self._update_log()
        state = self._base.state
        if state.done:
            return
        player = state.current_player_id
        with self._rngs.active():
            shown_to, text = self._env.get_observation()
        self._queued[player] = len(state.observations.get(player, []))
        self._shown[int(shown_to)] = str(text)

    def _update_log(self) -> None:
        state = self._base.state
        for p in range(self.num_players):
            queue = state.observations.get(p, [])
            self._log[p].extend(queue[self._queued[p]:])
            self._queued[p] = len(queue)

    def _accepted_now(self) -> dict[str, tuple]:
        """Candidate -> (stepped env, rngs, None) for the candidates TextArena accepts now."""
        if self._accepted is None or self._accepted[0] != self.turn:
            stepped = {a: self._attempt(a) for a in self._candidates or ()}
            self._accepted = (self.turn, {a: r for a, r in stepped.items() if r[2] is None})
        return self._accepted[1]

    def _attempt(self, action: str) -> tuple:
        """Step a copy of the env: (env, rngs, None) if TextArena accepted it, else a reason."""
        env, rngs = _copy_env(self._env), copy.copy(self._rngs)
        state = _base_env(env).state
        reasons: list[str] = []
        original = state.set_invalid_move

        def record(*args, **kwargs):
            reasons.append(str(kwargs.get("reason", args[0] if args else "")) or "invalid move")
            return original(*args, **kwargs)

        state.set_invalid_move = record
        text = self.env_text(action)
        try:
            with rngs.active():
                env.step(text)
        except Exception as e:  # noqa: BLE001 (untrusted text must not crash the run)
            log.warning("%s: TextArena raised on %r", self.name, text, exc_info=True)
            reasons.append(f"TextArena raised {_first_line(e)}")
        finally:
            vars(state).pop("set_invalid_move", None)
        return env, rngs, reasons[0] if reasons else None

    # ----- pickling: TextArena's wrappers forward every attribute, which breaks unpickling ----
    def __getstate__(self) -> dict:
        return dict(self.__dict__, _env=_flatten(self._env), _accepted=None, _views={})

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _env=_rebuild(*state["_env"]))

    def __deepcopy__(self, memo: dict) -> "TextArenaGame":
        return pickle.loads(pickle.dumps(self, pickle.HIGHEST_PROTOCOL))  # clone(); ~6x deepcopy
