"""The turn loop for turn-based games: seats ask their agents, actions are applied, rewards set.

One `GameArena` plays any registered game. In self-play every seat is the shared model, each
seat its own role; against a fixed opponent (random, scripted, frozen checkpoint) the learner
takes seat `seed % num_players`, so seats alternate across episodes, and only its turns are
trainable. Model output that names no legal action never crashes a game: the invalid-action
rule (explicit, configurable) retries or forfeits, and every such attempt is counted.

`random_opening=N` (exploring starts, for training): each episode first plays a uniform number in
[0, N] of uniformly random legal moves that nobody is trained on, so the agents meet positions
their own near-deterministic play would never reach; evaluation arenas leave it at 0.

The arena is the `game` kind of the arena registry (`GameArenaConfig`): it owns its opponent
(and forwards the opponent's hooks: a pool snapshots itself after updates), evaluates against the
uniform-random policy, and supplies warm-start rows from random play (training/warm_start.py).
`play.py` drives this same loop with a human at some seats (`seats=`, `watch=`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import Field, model_validator

from sparring.agents.policies import Agent, EnginePolicy, Policy, RandomPolicy
from sparring.agents.prompting import PromptConfig, seat_roles_for
from sparring.agents.roles import Role, seat_role_names
from sparring.arenas.base import Arena, ArenaContext, register_arena
from sparring.config import ArenaConfig, EvalConfig, InvalidActionConfig, OpponentConfig, WarmStartConfig
from sparring.environments import IllegalAction, make
from sparring.environments.registry import UnknownGame
from sparring.types import Episode, Turn


class GameArenaConfig(ArenaConfig):
    kind: str = "game"
    """Arena kind: a turn-based game from the game registry."""
    game: str
    """Registered game name (sparring.environments.names())."""
    game_options: dict[str, Any] = {}
    """Options passed to the game constructor (e.g. hands: 3)."""
    opponent: OpponentConfig = OpponentConfig()
    """Who plays the other seats."""
    random_opening: int = Field(0, ge=0)
    """Exploring starts: each training episode first plays 0..N uniformly random legal moves that
    no one is trained on (evaluation always starts from the usual position)."""
    shared_role: bool = False
    """One role for all seats instead of one role per seat."""
    invalid_action: InvalidActionConfig = InvalidActionConfig()
    """The explicit rule for invalid answers."""
    prompt: PromptConfig = PromptConfig()
    """How the seats are prompted and their answers read: prompt style (chat template or plain
    text), answer format (bracket, think, boxed, answer_tag), system prompt, user template and
    per-role overrides (docs/prompts.md)."""

    @model_validator(mode="after")
    def _opponent_settings(self):
        if self.opponent.kind == "checkpoint" and not self.opponent.path:
            raise ValueError("opponent.path is required when opponent.kind is 'checkpoint'")
        if self.opponent.kind == "openai" and self.opponent.endpoint is None:
            raise ValueError("opponent.endpoint is required when opponent.kind is 'openai'")
        return self

    @model_validator(mode="after")
    def _known_game_and_roles(self):
        """The game exists and takes these options (a user's games are imported before validation);
        prompt overrides name its roles. A game that cannot even be built here for another reason
        (an optional package) fails where the arena is built."""
        try:
            players = make(self.game, **self.game_options).num_players
        except UnknownGame as e:  # its message lists the registered games
            raise ValueError(f"game: {e} (a game from your own package needs `imports: [your_module]`)") from None
        except ValueError as e:  # options the game does not take
            raise ValueError(f"game_options {self.game_options} for {self.game!r}: {e}") from None
        except Exception:  # noqa: BLE001
            return self
        self.prompt.check_roles(seat_role_names(self.game, players, self.shared_role))
        return self

    def roles(self, sampling, tokenizer=None) -> list[Role]:
        """The seats' roles as `prompt` configures them (style resolved against `tokenizer`)."""
        players = make(self.game, **self.game_options).num_players
        return seat_roles_for(self.prompt, self.game, players, sampling, self.shared_role, tokenizer)


@dataclass(frozen=True)
class InvalidActionRule:
    """What an unparseable or illegal answer costs.

    retries: further attempts allowed per turn before forfeiting.
    penalty: the forfeiting player's reward; opponent_reward: every other player's.
    retry_penalty: the reward of a failed attempt that was retried (trained as its own sample).
    """

    penalty: float = -1.0
    opponent_reward: float = 0.0
    retries: int = 0
    retry_penalty: float = -1.0

    @classmethod
    def from_config(cls, cfg: InvalidActionConfig) -> InvalidActionRule:
        return cls(**cfg.model_dump(exclude={"preset"}))


@register_arena("game")
class GameArena(Arena):
    """`seats` (optional) fixes the policy of every seat (e.g. a human in `sparring play`) instead
    of the learner-against-opponent assignment; `watch(game, turn)` is called after every attempt
    (after the move is applied, when it was legal)."""

    config_model = GameArenaConfig

    def __init__(
        self,
        name: str,
        game: str,
        roles: list[Role],
        learner: Policy,
        opponent: Policy | None = None,
        game_options: dict | None = None,
        invalid: InvalidActionRule = InvalidActionRule(),
        random_opening: int = 0,
        *,
        seats: list[Policy] | None = None,
        watch: Callable[[Any, Turn], None] | None = None,
        eval_engine=None,
        model=None,
        tokenizer=None,
        seed: int = 0,
        index: int = 0,
    ) -> None:
        if random_opening < 0:
            raise ValueError(f"arena {name!r}: random_opening must be >= 0, got {random_opening}")
        self.name = name
        self.game_name = game
        self.game_options = dict(game_options or {})
        self.num_players = make(game, **self.game_options).num_players
        if len(roles) != self.num_players:
            raise ValueError(f"arena {name!r}: {len(roles)} roles for {self.num_players} seats")
        self.roles = roles
        if any(r.restate for r in roles):
            probe = make(game, **self.game_options)
            probe.reset(seed=0)
            if probe.private_note(probe.current_player) is None:
                raise ValueError(f"arena {name!r}: prompt.restate, but {game!r} has no private information to "
                                 "restate (Game.private_note returns None); drop prompt.restate")
        self.learner = learner
        self.opponent = opponent
        self.invalid = invalid
        self.random_opening = random_opening
        if seats is not None and len(seats) != self.num_players:
            raise ValueError(f"arena {name!r}: {len(seats)} seat policies for {self.num_players} seats")
        self.seats = seats
        self.watch = watch
        self.eval_engine = eval_engine  # the rollout engine, for a greedy evaluation policy
        self.seed = seed  # the run seed
        self.index = index  # position among the run's arenas
        self.model, self.tokenizer = model, tokenizer  # the learner's model, scored for eval.exploitability

    @classmethod
    def from_config(cls, cfg: GameArenaConfig, ctx: ArenaContext) -> GameArena:
        from sparring.agents.opponents import build_opponent

        roles = cfg.roles(ctx.sampling, ctx.tokenizer)
        run_dir = ctx.run_dir / "opponents" / cfg.name if ctx.run_dir is not None else None
        opponent = build_opponent(cfg.opponent, game=cfg.game, game_options=cfg.game_options, seed=ctx.seed * 31 + ctx.index,
                                  dtype=ctx.model_config.dtype if ctx.model_config else "float32",
                                  device=ctx.model_config.device if ctx.model_config else "cpu",
                                  engine=ctx.engine_config, run_dir=run_dir, initial_model=ctx.model,
                                  tokenizer=ctx.tokenizer)
        return cls(cfg.name, cfg.game, roles, ctx.policy, opponent, cfg.game_options,
                   InvalidActionRule.from_config(cfg.invalid_action), cfg.random_opening,
                   eval_engine=ctx.engine, model=ctx.model, tokenizer=ctx.tokenizer, seed=ctx.seed,
                   index=ctx.index)

    def _open(self, game, seed: int) -> int:
        """Play the episode's random opening moves (seeded by the episode); returns how many."""
        if not self.random_opening:
            return 0
        rng = random.Random(f"opening/{seed}")
        moves = rng.randint(0, self.random_opening)
        for played in range(moves):
            if game.done:
                return played
            game.step(rng.choice(game.legal_actions()))
        return moves

    def learner_seat(self, seed: int) -> int | None:
        """The seat the learner plays against a fixed opponent; None in self-play."""
        return None if self.opponent is None else seed % self.num_players

    def learner_seats(self, seed: int) -> list[int] | None:
        """The seats the learner plays in this episode; None when it plays every seat."""
        if self.seats is not None:
            mine = [p for p, policy in enumerate(self.seats) if policy is self.learner]
            return None if len(mine) == self.num_players else mine
        seat = self.learner_seat(seed)
        return None if seat is None else [seat]

    def agents(self, seed: int) -> list[Agent]:
        if self.seats is not None:
            return [Agent(role, policy) for role, policy in zip(self.roles, self.seats)]
        seat = self.learner_seat(seed)
        opponent = self.opponent
        if opponent is not None and hasattr(opponent, "for_episode"):
            opponent = opponent.for_episode(seed)  # e.g. a pool picks one past self per game
        return [
            Agent(role, self.learner if seat is None or p == seat else opponent)
            for p, role in enumerate(self.roles)
        ]

    def _opponent_name(self, agents: list[Agent], seed: int) -> str:
        seat = self.learner_seat(seed)
        if seat is None or self.seats is not None:
            return "self" if self.seats is None else "seats"
        policy = agents[(seat + 1) % self.num_players].policy
        return getattr(policy, "name", type(policy).__name__)

    async def play(self, seed: int) -> Episode:
        game, opening = self._start(seed)
        return await self._play_out(game, seed, opening)

    def _start(self, seed: int):
        """A fresh game of this episode after its random opening; returns (game, opening moves)."""
        game = make(self.game_name, **self.game_options)
        game.reset(seed=seed)
        return game, self._open(game, seed)

    async def _play_out(self, game, seed: int, opening: int) -> Episode:
        """Play `game` from its current state (after the opening) to the end."""
        agents = self.agents(seed)
        turns: list[Turn] = []
        forfeit: int | None = None
        while not game.done:
            player = game.current_player
            legal = game.legal_actions()
            observation = game.observation(player)
            for attempt in range(self.invalid.retries + 1):
                turn = await agents[player].act(player, observation, legal, game)
                turns.append(turn)
                if turn.action is not None:
                    try:  # free-text games validate the action only here
                        game.step(turn.action)
                    except IllegalAction:
                        turn.action, turn.invalid = None, True
                if self.watch is not None:
                    self.watch(game, turn)
                if turn.action is not None:
                    break
                if attempt < self.invalid.retries:  # another attempt follows: this one is trained alone
                    turn.retried, turn.reward = True, self.invalid.retry_penalty
            if turn.action is None:
                forfeit = player
                break
        if forfeit is None:
            rewards = [float(r) for r in game.returns()]
        else:
            rewards = [self.invalid.opponent_reward] * self.num_players
            rewards[forfeit] = self.invalid.penalty
        metadata = {
            "invalid_attempts": sum(t.invalid for t in turns),
            "game_turns": game.turn,
            "opening_moves": opening,
            "opponent": self._opponent_name(agents, seed),
        }
        return Episode(arena=self.name, task=self.game_name, seed=seed, turns=turns, rewards=rewards,
                       roles=[r.name for r in self.roles], metadata=metadata, forfeit=forfeit,
                       learner_seats=self.learner_seats(seed))

    # ----- hooks ------------------------------------------------------------------------------
    def metrics(self, episodes: list[Episode]) -> dict[str, float]:
        turns = [e.metadata["game_turns"] for e in episodes]
        return {f"rollout/{self.name}/game_turns_mean": sum(turns) / len(turns)} if turns else {}

    async def evaluate(self, cfg: EvalConfig) -> dict[str, float]:
        """Greedy (eval.temperature) play against the uniform-random policy in every seat."""
        from sparring.training.evaluate import evaluate_async

        if self.eval_engine is None:
            return {}
        policy = EnginePolicy(self.eval_engine, trainable=False, temperature=cfg.temperature)
        result = await evaluate_async(policy, RandomPolicy(seed=self.seed + 17), self.game_name, self.roles,
                                      cfg.episodes, self.game_options, self.invalid, "random")
        metrics = result.metrics(f"eval/{self.name}/vs_random")
        if cfg.exploitability and self.model is not None:
            from sparring.evals import exploitability

            twin = exploitability.twin(self.game_name, self.game_options)
            probs = exploitability.model_probs(self.model, self.tokenizer, self.roles)
            metrics.update(exploitability.evaluate(twin, probs).metrics(f"eval/{self.name}"))
        return metrics

    @classmethod
    def warm_start_rows(cls, cfg: GameArenaConfig, ctx: ArenaContext, warm_start: WarmStartConfig,
                        count: int) -> list[dict]:
        """Turns of random legal play (or search-labelled positions) in the arena's own prompts."""
        from sparring.training.warm_start import transcripts

        roles = cfg.roles(ctx.sampling, ctx.tokenizer)
        return transcripts([(cfg.game, cfg.game_options, roles)], count, ctx.seed, warm_start.keep, warm_start.search,
                           first_index=ctx.index)

    @classmethod
    def report_charts(cls, name: str, keys: list[str]) -> list[tuple[str, list[str]]]:
        mine = [k for k in keys if k.startswith((f"eval/{name}/vs_random/seat", f"rollout/{name}/"))]
        return [(f"{name}: seats and game length", mine)] if mine else []

    def before_step(self, step: int) -> None:
        if self.opponent is not None:
            _call(self.opponent, "before_step", step)

    def after_update(self, step: int, model) -> None:
        if self.opponent is not None:
            _call(self.opponent, "after_update", step, model)

    def state_dict(self) -> dict | None:
        state = _call(self.opponent, "state_dict") if self.opponent is not None else None
        return None if state is None else {"opponent": state}

    def load_state_dict(self, state: dict) -> None:
        if self.opponent is not None and "opponent" in state:
            _call(self.opponent, "load_state_dict", state["opponent"])

    async def aclose(self) -> None:
        if self.opponent is None:
            return
        close = getattr(self.opponent, "aclose", None)
        engine = getattr(self.opponent, "engine", None)
        if close is not None:
            await close()
        elif engine is not None:
            await engine.aclose()


def _call(policy, hook: str, *args):
    """An opponent's optional hook (opponents are policies; only some have state or per-step work,
    see agents/opponents.py); None when it has no such hook."""
    method = getattr(policy, hook, None)
    return method(*args) if method is not None else None
