"""From episodes to trainable samples: trajectories -> sequence advantages -> per-turn credit.

A trajectory is one player's trainable turns in one episode, with that player's reward (the
episode's final reward plus any per-turn rewards), the baseline key (arena, role) and the GRPO
group the arena declared ((arena, role, Episode.group); the key when the arena declared none).
A failed attempt that was retried (`Turn.retried`) is its own one-turn trajectory whose reward is
the turn's own (the arena's retry penalty). Each role's trajectories go to the estimator chosen
for that role (`advantages.estimator` / `per_role`, from the estimator registry); turn-level
credit (`turn_credit.TurnCredit`) then gives every turn its advantage.

Over-long completions (`sampling.overlong`): under "invalid" a turn cut off at max_new_tokens
is trained like any invalid answer; under "mask" (DAPO's overlong filtering) it is estimated like
every other turn but yields no sample, so it stays out of the loss (`masked_overlong`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Literal

import torch

from sparring.config import AdvantageConfig, CreditConfig
from sparring.training.advantages import Estimator
from sparring.training.turn_credit import TurnCredit
from sparring.types import Episode, Sample, Turn


@dataclass
class Trajectory:
    turns: list[Turn]
    reward: float  # what the sequence-level estimator sees: final + per-turn rewards
    key: Hashable  # (arena, role): RAE/TRR++ baseline key
    role: str
    group: Hashable  # (arena, role, Episode.group), or the key
    retry: bool = False
    final: float = 0.0  # the episode's final reward for this player (0 for a retried attempt)


def trajectories(episodes: list[Episode]) -> list[Trajectory]:
    out: list[Trajectory] = []
    for ep in episodes:
        for player, role in enumerate(ep.roles):
            mine = [t for t in ep.turns if t.player == player and t.trainable]
            if not mine:
                continue
            key = (ep.arena, role)
            group = (ep.arena, role, ep.group) if ep.group is not None else key
            kept = []
            for t in mine:
                if not t.retried:
                    kept.append(t)
                    continue
                if t.reward is None:
                    raise ValueError(f"arena {ep.arena!r}: a retried turn of {role!r} carries no reward "
                                     "(set Turn.reward to the retry penalty)")
                out.append(Trajectory([t], float(t.reward), key, role, group, retry=True))
            if kept:
                final = float(ep.rewards[player])
                total = final + sum(t.reward or 0.0 for t in kept)
                out.append(Trajectory(kept, total, key, role, group, final=final))
    return out


class AdvantageAssigner:
    """Holds the estimators (stateful ones keep state, e.g. RAE baselines) and turn credit."""

    def __init__(self, advantages: AdvantageConfig | None = None, credit: CreditConfig | None = None,
                 overlong: Literal["invalid", "mask"] = "invalid") -> None:
        if overlong not in ("invalid", "mask"):
            raise ValueError(f"sampling.overlong must be 'invalid' or 'mask', got {overlong!r}")
        self.overlong = overlong
        self.cfg = advantages or AdvantageConfig()
        names = dict.fromkeys([self.cfg.estimator, *self.cfg.per_role.values()])
        self.estimators = {n: Estimator(n, {"alpha": self.cfg.rae_alpha} if n == "rae" else self.cfg.options.get(n))
                           for n in names}
        self.turn_credit = TurnCredit(credit or CreditConfig())

    def estimator_for(self, role: str) -> str:
        return self.cfg.per_role.get(role, self.cfg.estimator)

    @property
    def rae(self):
        """The RAE instance (its baselines), when some role uses RAE."""
        return self.estimators["rae"].fn

    def advantages(self, trajs: list[Trajectory]) -> torch.Tensor:
        """Sequence-level advantages, each role's trajectories through its estimator."""
        values = torch.zeros(len(trajs))
        by_estimator: dict[str, list[int]] = {}
        for i, t in enumerate(trajs):
            by_estimator.setdefault(self.estimator_for(t.role), []).append(i)
        for name, idx in by_estimator.items():
            rewards = torch.tensor([trajs[i].reward for i in idx], dtype=torch.float32)
            values[idx] = self.estimators[name](rewards, [trajs[i].group for i in idx], [trajs[i].key for i in idx])
        return values

    def masked_overlong(self, turn: Turn) -> bool:
        """Whether `turn` stays out of the loss: it was cut off and the rule is "mask"."""
        return self.overlong == "mask" and turn.truncated

    def assign(self, episodes: list[Episode]) -> list[Sample]:
        trajs = trajectories(episodes)
        per_turn = self.turn_credit(trajs, self.advantages(trajs))
        return [
            Sample(prompt_ids=turn.prompt_ids, completion_ids=turn.completion_ids, old_logprobs=turn.logprobs,
                   advantage=a, reward=t.reward, role=t.role, key=t.key)
            for t, advs in zip(trajs, per_turn) for turn, a in zip(t.turns, advs) if not self.masked_overlong(turn)
        ]

    def state_dict(self) -> dict:
        return {"estimators": {n: e.state_dict() for n, e in self.estimators.items()}, **self.turn_credit.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        saved = d.get("estimators", {"rae": d["rae"]} if "rae" in d else {})  # older checkpoints: {"rae": ...}
        for name, state in saved.items():
            if name in self.estimators:
                self.estimators[name].load_state_dict(state)
        self.turn_credit.load_state_dict(d)
