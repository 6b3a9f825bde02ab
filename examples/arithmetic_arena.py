"""A user arena kind with two roles: a setter writes an addition problem, a solver answers it.

The arena plugin API in one file: a config model, `from_config`, a `play_step` that returns typed
episodes with GRPO groups (the solver's answers to one problem form a group, so `grpo` normalises
within a problem and `trr_plus_plus` across all of a role's), and metrics of its own. A config
trains it with `imports: [arithmetic_arena]` and an arena `{kind: arithmetic, name: ...}`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from pydantic import Field

from sparring.agents.roles import Role
from sparring.arenas import Arena, register_arena
from sparring.config import ArenaConfig
from sparring.types import Episode, SamplingParams


class ArithmeticConfig(ArenaConfig):
    kind: str = "arithmetic"
    """Arena kind."""
    samples: int = Field(4, ge=1)
    """Solver answers per problem (one GRPO group)."""
    max_operand: int = Field(9, ge=1)
    """Largest number a setter may use."""


@dataclass(frozen=True)
class SetterRole(Role):
    max_operand: int = 9

    def parse(self, text: str, legal) -> str | None:
        """'a+b' from '[a+b]' with both numbers in range; None otherwise (a counted invalid turn)."""
        m = re.fullmatch(r"(\d+)\+(\d+)", (super().parse(text, None) or "").replace(" ", ""))
        ok = m and max(int(m[1]), int(m[2])) <= self.max_operand
        return f"{int(m[1])}+{int(m[2])}" if ok else None


@register_arena("arithmetic")
class ArithmeticArena(Arena):
    config_model = ArithmeticConfig

    def __init__(self, cfg: ArithmeticConfig, policy, sampling: SamplingParams) -> None:
        self.cfg, self.name, self.policy = cfg, cfg.name, policy
        prompt = f"Write an addition of two whole numbers from 0 to {cfg.max_operand}, as [a+b]."
        self.setter = SetterRole("arithmetic/setter", user_template=prompt, sampling=sampling,
                                 max_operand=cfg.max_operand)
        self.solver = Role("arithmetic/solver", user_template="{observation} Answer as [n].", sampling=sampling)

    @classmethod
    def from_config(cls, cfg: ArithmeticConfig, ctx) -> ArithmeticArena:
        return cls(cfg, ctx.policy, ctx.sampling)

    async def play_step(self, step: int, seeds: list[int]) -> list[Episode]:
        sets = await asyncio.gather(*[self.policy.act(self.setter, 0, "", None) for _ in seeds])
        episodes, problems = [], []
        for seed, turn in zip(seeds, sets):
            if turn.action is None:  # the setter forfeits: -1, nothing to solve
                episodes.append(Episode(self.name, "set", seed, [turn], [-1.0], [self.setter.name], forfeit=0))
            else:
                problems.append((seed, turn))
        asks = [(seed, turn, f"What is {turn.action}?") for seed, turn in problems for _ in range(self.cfg.samples)]
        answers = await asyncio.gather(*[self.policy.act(self.solver, 0, q, None) for _, _, q in asks])
        for i, (seed, setter_turn) in enumerate(problems):
            a, b = map(int, setter_turn.action.split("+"))
            mine = answers[i * self.cfg.samples:(i + 1) * self.cfg.samples]
            scores = [float(t.action == str(a + b)) for t in mine]
            for t, score in zip(mine, scores):  # a well-formed wrong answer 0, no number -1
                reward = score if t.action and t.action.isdigit() else -1.0
                episodes.append(Episode(self.name, "solve", seed, [t], [reward], [self.solver.name],
                                        forfeit=0 if reward < 0 else None, group=setter_turn.action,
                                        metadata={"score": score}))
            rate = sum(scores) / len(scores)  # a problem solved half the time teaches the most
            episodes.append(Episode(self.name, "set", seed, [setter_turn], [1.0 - abs(2 * rate - 1)],
                                    [self.setter.name], metadata={"solve_rate": rate}))
        return episodes

    def metrics(self, episodes: list[Episode]) -> dict[str, float]:
        sets = [e for e in episodes if e.task == "set"]
        solves = [e.metadata["score"] for e in episodes if e.task == "solve"]
        return {f"arithmetic/{self.name}/valid_problems": sum(e.forfeit is None for e in sets) / max(len(sets), 1),
                f"arithmetic/{self.name}/solve_rate": sum(solves) / len(solves) if solves else 0.0}
