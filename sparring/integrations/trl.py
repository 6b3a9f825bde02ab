"""Train on a sparring game with TRL's `GRPOTrainer`: a dataset of positions and a reward function.

For a user who stays on TRL. `GameTask` turns a registered game and a role (prompt style and
answer format, as an arena's `prompt:` section builds it) into

- `task.dataset(size, seed)`: a `datasets.Dataset` with one row per game position: `prompt` (the
  role's chat messages, or its plain text for the plain style) and the columns that rebuild the
  position: `game`, `game_options` (JSON), `seed` (the game's reset seed), `history` (JSON list of
  the moves played since) and `player` (the seat to move, for reading only);
- `task.reward`: a reward function with TRL's signature, `reward(prompts, completions, **columns)
  -> list[float]`, one float per completion.

Positions: each row's game is reset with its seed, then a random opening of 0..`max_opening`
uniformly random legal moves is played (seeded by the row, so rows are reproducible); an opening
move that would end the game is not played, so every row has a move to make.

The reward rule (one decision per completion, the same for every row):

1. The completion's text is read by the role's parser (`Role.parse`: its answer format, matched
   case-insensitively against the legal moves). Unparseable, illegal, a free-text answer the rules
   reject, or cut off at the token cap (no stop token, when `stop_token_ids` are known and the role
   requires a stop, as sparring's own arenas do): `invalid_penalty` (default -1.0). Model output
   never raises here.
2. A legal move is applied. If that ends the game, the reward is the mover's return.
3. Otherwise the rest of the game is played out by the uniformly random policy for every seat
   (the mover's later turns included), `playouts` times, and the reward is the mover's mean return.
   Play-outs are seeded by (`playout_seed`, row, move, play-out index), so the same answer to the
   same position always scores the same, and the game's own chance events after the move (a next
   deal) are redrawn per play-out: the reward is an expectation over what the mover cannot know.
   It is the move's value against random play, not against a best reply.

With the default bracket format and a TicTacToe position where X can complete a line, `[4]`
scores 1.0, `[9]` or `hello` score the penalty.

    from sparring.integrations.trl import GameTask
    from trl import GRPOConfig, GRPOTrainer

    task = GameTask("tictactoe", tokenizer=tokenizer, invalid_penalty=-1.0)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=task.reward,
                          train_dataset=task.dataset(256), args=GRPOConfig(...))

The task itself is the same function under the name `<game>_reward` (`reward_funcs=task`: TRL
logs `rewards/tictactoe_reward/mean`). Keep TRL's `remove_unused_columns=False` (its GRPO
default): the reward needs the columns. See docs/trl.md for a runnable example.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from sparring.agents.prompting import PromptConfig, build_role
from sparring.agents.roles import Role
from sparring.environments import Game, make
from sparring.types import SamplingParams

__all__ = ["GameTask", "completion_text"]


class GameTask:
    """A game and a role, seen by TRL as a prompt dataset and a reward function.

    role: the role that reads answers and builds prompts; or `prompt`, an arena `prompt:` section
    (a `PromptConfig` or its dict) to build one from (role name `<game>/player`). `tokenizer`
    resolves the `auto` prompt style (chat when it has a chat template, else plain) and gives the
    default `stop_token_ids` (its EOS); without a tokenizer the style is chat and cut-off
    completions are not detected.
    """

    def __init__(self, game: str, *, game_options: dict[str, Any] | None = None, role: Role | None = None,
                 prompt: PromptConfig | dict | None = None, tokenizer=None, invalid_penalty: float = -1.0,
                 playouts: int = 8, playout_seed: int = 0, max_opening: int = 4,
                 stop_token_ids: Sequence[int] | None = None) -> None:
        if playouts < 1:
            raise ValueError(f"playouts must be >= 1, got {playouts}")
        if max_opening < 0:
            raise ValueError(f"max_opening must be >= 0, got {max_opening}")
        if role is not None and prompt is not None:
            raise ValueError("give a role or a prompt config, not both")
        self.game = game
        self.game_options = dict(game_options or {})
        make(game, **self.game_options)  # an unknown game or bad options fail here
        if role is None:
            config = prompt if isinstance(prompt, PromptConfig) else PromptConfig(**(prompt or {}))
            role = build_role(config, f"{game}/player", SamplingParams(), tokenizer)  # TRL samples itself
        self.role = role
        self.invalid_penalty = float(invalid_penalty)
        self.playouts = playouts
        self.playout_seed = playout_seed
        self.max_opening = max_opening
        if stop_token_ids is None and tokenizer is not None and tokenizer.eos_token_id is not None:
            stop_token_ids = [tokenizer.eos_token_id]
        self.stop_token_ids = frozenset(stop_token_ids) if stop_token_ids is not None else None
        self.__name__ = f"{game}_reward"  # TRL logs a reward function under its __name__

    # ----- positions and the dataset ------------------------------------------------------------
    def position(self, seed: int, history: Sequence[str] = (), game: str | None = None,
                 game_options: dict | None = None) -> Game:
        """The game after `reset(seed)` and the moves of `history` (this task's game by default)."""
        state = make(game or self.game, **(self.game_options if game_options is None else game_options))
        state.reset(seed=seed)
        for action in history:
            state.step(action)
        return state

    def opening(self, seed: int) -> list[str]:
        """The random opening of row seed `seed`: 0..max_opening uniformly random legal moves,
        stopping before a move that would end the game."""
        rng = random.Random(f"sparring.trl/opening/{seed}")
        state, moves = self.position(seed), []
        for _ in range(rng.randint(0, self.max_opening)):
            trial = state.clone()
            action = trial.sample_action(rng)
            trial.step(action)
            if trial.done:
                break
            state = trial
            moves.append(action)
        return moves

    def row(self, seed: int, history: Sequence[str] = ()) -> dict[str, Any]:
        """One dataset row: the role's prompt at the position and the columns that rebuild it."""
        state = self.position(seed, history)
        if state.done:
            raise ValueError(f"{self.game}: the game is over after {list(history)}; a row needs a move to make")
        player = state.current_player
        observation = state.observation(player)
        plain = self.role.prompt_style == "plain"
        prompt = self.role.prompt_text(observation) if plain else self.role.messages(observation)
        return {"prompt": prompt, "game": self.game, "game_options": json.dumps(self.game_options, sort_keys=True),
                "seed": int(seed), "history": json.dumps(list(history)), "player": int(player)}

    def rows(self, size: int, seed: int = 0) -> list[dict[str, Any]]:
        """`size` rows with random openings; row i's game seed is `seed * 1_000_003 + i`."""
        return [self.row(s, self.opening(s)) for s in (seed * 1_000_003 + i for i in range(size))]

    def dataset(self, size: int, seed: int = 0):
        """`rows(size, seed)` as a `datasets.Dataset` (TRL's prompt dataset)."""
        from datasets import Dataset

        return Dataset.from_list(self.rows(size, seed))

    # ----- the reward -----------------------------------------------------------------------------
    def reward(self, prompts: list, completions: list, **columns) -> list[float]:
        """TRL's reward-function signature: one reward per completion, from the row columns
        `seed` and `history` (and `game`, `game_options` when present). Extra keyword arguments
        TRL passes (`completion_ids`, `trainer_state`, `log_metric`, ...) are used or ignored."""
        n = len(completions)
        seeds, histories = columns["seed"], columns["history"]
        games = columns.get("game") or [self.game] * n
        options = columns.get("game_options") or [None] * n
        ids = columns.get("completion_ids") or [None] * n
        positions: dict[tuple, Game] = {}  # a group's completions share their position
        rewards, invalid = [], 0
        for i, completion in enumerate(completions):
            opts = json.loads(options[i]) if isinstance(options[i], str) else options[i]
            opts = self.game_options if opts is None else opts  # as `score` keys its play-outs
            hist = json.loads(histories[i]) if isinstance(histories[i], str) else list(histories[i])
            key = (games[i], json.dumps(opts, sort_keys=True), int(seeds[i]), json.dumps(hist))
            if key not in positions:
                positions[key] = self.position(key[2], hist, games[i], opts)
            value = self._score(positions[key], completion_text(completion), ids[i], key)
            invalid += value is None
            rewards.append(self.invalid_penalty if value is None else value)
        log_metric = columns.get("log_metric")
        if callable(log_metric) and n:
            log_metric("sparring/invalid_rate", invalid / n)
        return rewards

    def score(self, completion, seed: int, history: Sequence[str] = (),
              completion_ids: Sequence[int] | None = None) -> float:
        """The reward of one completion (text, or TRL's message list) at this task's position."""
        state = self.position(seed, history)
        key = (self.game, json.dumps(self.game_options, sort_keys=True), int(seed), json.dumps(list(history)))
        value = self._score(state, completion_text(completion), completion_ids, key)
        return self.invalid_penalty if value is None else value

    def _score(self, position: Game, text: str | None, completion_ids, key: tuple) -> float | None:
        """The move's value (rule 2-3 of the module docstring), or None for an invalid answer."""
        if text is None or self._cut_off(completion_ids):
            return None
        legal = position.legal_actions()
        action = self.role.parse(text, legal)
        if action is None:
            return None
        state = position.clone()
        player = state.current_player
        try:
            state.step(action)
        except Exception:  # noqa: BLE001 - a free-text answer the rules reject, however they reject it
            return None
        if state.done:
            return float(state.returns()[player])
        total = 0.0
        for k in range(self.playouts):
            rng = random.Random(f"sparring.trl/playout/{self.playout_seed}/{key}/{action}/{k}")
            sim = state.clone()
            sim.rng.seed(rng.random())  # future chance events: drawn afresh per play-out
            limit = sim.max_turns if sim.max_turns > 0 else 100_000
            while not sim.done and sim.turn < limit:
                sim.step(sim.sample_action(rng))
            total += sim.returns()[player]
        return total / self.playouts

    def _cut_off(self, completion_ids) -> bool:
        """A completion that ends without a stop token (hit the cap), when the role requires one."""
        if not self.role.require_stop or self.stop_token_ids is None or completion_ids is None:
            return False
        ids = list(completion_ids)
        return not ids or ids[-1] not in self.stop_token_ids

    def __call__(self, prompts: list, completions: list, **columns) -> list[float]:
        return self.reward(prompts, completions, **columns)


def completion_text(completion) -> str | None:
    """The text of a TRL completion: a string (plain prompts) or assistant messages (chat: the last
    message's content, text parts joined); None for anything else."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)) or not completion or not isinstance(completion[-1], dict):
        return None
    content = completion[-1].get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return None
