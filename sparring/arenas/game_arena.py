"""The turn loop for turn-based games: seats ask their agents, actions are applied, rewards set.

One `GameArena` plays any registered game. In self-play every seat is the shared model, each
seat its own role; against a fixed opponent (random, scripted, frozen checkpoint) the learner
takes seat `seed % num_players`, so seats alternate across episodes, and only its turns are
trainable. Model output that names no legal action never crashes a game: the invalid-action
rule (explicit, configurable) retries or forfeits, and every such attempt is counted.

`random_opening=N` (exploring starts, for training): each episode first plays a uniform number in
[0, N] of uniformly random legal moves that nobody is trained on, so the agents meet positions
their own near-deterministic play would never reach; evaluation arenas leave it at 0.

`branches=K` (vine sampling, for training): after each game, K - 1 more games continue from one of
its trainable decisions (chosen uniformly, seeded; the seeded game is replayed up to it), each
sampling that move afresh. The K moves from the one shared position then differ only in what
followed them, so a per-state baseline (`advantages.baseline: state`) credits them against each
other: a low-variance comparison of moves exactly where the model chose. Branch episodes repeat the shared prefix as
untrained turns (a complete game record) and carry `metadata["branch"]` (1..K-1; 0 the original).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass

from sparring.agents.policies import Agent, Policy
from sparring.agents.roles import Role
from sparring.environments import IllegalAction, make
from sparring.types import Episode, Turn


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


class GameArena:
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
        branches: int = 1,
    ) -> None:
        if random_opening < 0:
            raise ValueError(f"arena {name!r}: random_opening must be >= 0, got {random_opening}")
        if branches < 1:
            raise ValueError(f"arena {name!r}: branches must be >= 1, got {branches}")
        self.name = name
        self.game_name = game
        self.game_options = dict(game_options or {})
        self.num_players = make(game, **self.game_options).num_players
        if len(roles) != self.num_players:
            raise ValueError(f"arena {name!r}: {len(roles)} roles for {self.num_players} seats")
        self.roles = roles
        self.learner = learner
        self.opponent = opponent
        self.invalid = invalid
        self.random_opening = random_opening
        self.branches = branches

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

    def agents(self, seed: int) -> list[Agent]:
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
        if seat is None:
            return "self"
        policy = agents[(seat + 1) % self.num_players].policy
        return getattr(policy, "name", type(policy).__name__)

    async def play(self, seed: int) -> Episode:
        return (await self._play(seed, record=False))[0]

    async def play_step(self, step: int, seeds: list[int]) -> list[Episode]:
        """The step's episodes: with branches > 1 each game is followed by its branches."""
        if self.branches == 1:
            return list(await asyncio.gather(*[self.play(s) for s in seeds]))
        games = await asyncio.gather(*[self._play_branched(s) for s in seeds])
        return [e for episodes in games for e in episodes]

    async def _play_branched(self, seed: int) -> list[Episode]:
        episode, decisions = await self._play(seed, record=True)
        if not decisions:  # e.g. a forfeit before the learner ever moved, or no trainable seat
            return [episode]
        prefix_len = random.Random(f"branch/{seed}").choice(decisions)
        prefix = [dataclasses.replace(t, trainable=False) for t in episode.turns[:prefix_len]]
        branches = await asyncio.gather(*[
            self._continue(self._replay(seed, prefix), seed, list(prefix), episode.metadata["opening_moves"], branch=b)
            for b in range(1, self.branches)
        ])
        return [episode, *branches]

    def _start(self, seed: int):
        """A fresh game of this episode after its random opening; returns (game, opening moves)."""
        game = make(self.game_name, **self.game_options)
        game.reset(seed=seed)
        return game, self._open(game, seed)

    def _replay(self, seed: int, turns: list[Turn]):
        """The episode's game at the end of `turns` (games are deterministic given the seed)."""
        game, _ = self._start(seed)
        for t in turns:
            if t.action is not None:
                game.step(t.action)
        return game

    async def _play(self, seed: int, record: bool) -> tuple[Episode, list[int] | None]:
        game, opening = self._start(seed)
        decisions: list[int] | None = [] if record else None
        return await self._continue(game, seed, [], opening, decisions=decisions), decisions

    async def _continue(self, game, seed: int, turns: list[Turn], opening: int, branch: int = 0,
                        decisions: list[int] | None = None) -> Episode:
        """Play `game` from its current state to the end; `turns` holds what came before.
        With `decisions`, the number of turns so far is kept before every trainable decision."""
        agents = self.agents(seed)
        start = len(turns)
        forfeit: int | None = None
        while not game.done:
            player = game.current_player
            legal = game.legal_actions()
            observation = game.observation(player)
            if decisions is not None and agents[player].policy is self.learner:
                decisions.append(len(turns))
            for _attempt in range(self.invalid.retries + 1):
                turn = await agents[player].act(player, observation, legal, game)
                turns.append(turn)
                if turn.action is not None:
                    try:  # free-text games validate the action only here
                        game.step(turn.action)
                        break
                    except IllegalAction:
                        turn.action, turn.invalid = None, True
            if turn.action is None:
                forfeit = player
                break
        if forfeit is None:
            rewards = [float(r) for r in game.returns()]
        else:
            rewards = [self.invalid.opponent_reward] * self.num_players
            rewards[forfeit] = self.invalid.penalty
        metadata = {
            "forfeit": forfeit,
            "invalid_attempts": sum(t.invalid for t in turns[start:]),
            "learner_seat": self.learner_seat(seed),
            "game_turns": game.turn,
            "opening_moves": opening,
            "opponent": self._opponent_name(agents, seed),
        }
        if self.branches > 1:
            metadata["branch"] = branch
        return Episode(arena=self.name, task=self.game_name, seed=seed, turns=turns, rewards=rewards,
                       roles=[r.name for r in self.roles], metadata=metadata)
