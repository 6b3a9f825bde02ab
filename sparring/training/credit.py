"""From episodes to trainable samples: per-role rewards -> advantages -> per-turn credit.

A trajectory is one player's trainable turns in one episode, with that player's reward and the
baseline key (arena, role). Each role's trajectories go to the estimator chosen for that role;
every turn of a trajectory then gets the trajectory's advantage, discounted by gamma**k for a
turn k turns before the player's last. A failed attempt that was retried is its own
one-turn trajectory with the retry penalty as reward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

import torch

from sparring.training import advantages as adv
from sparring.types import Episode, Sample, Turn


@dataclass
class Trajectory:
    turns: list[Turn]
    reward: float
    key: Hashable  # (arena, role): RAE/TRR++ baseline key and default group
    role: str
    group: Hashable


def trajectories(episodes: list[Episode], retry_penalty: Callable[[str], float]) -> list[Trajectory]:
    out: list[Trajectory] = []
    for ep in episodes:
        group_tag = ep.metadata.get("group")
        for player, role in enumerate(ep.roles):
            mine = [t for t in ep.turns if t.player == player and t.trainable]
            if not mine:
                continue
            key = (ep.arena, role)
            group = (ep.arena, role, group_tag) if group_tag is not None else key
            forfeited = ep.metadata.get("forfeit") == player
            # failed attempts followed by another attempt were retried: own trajectories
            kept = []
            for i, t in enumerate(mine):
                retried = t.invalid and not (forfeited and i == len(mine) - 1)
                if retried:
                    out.append(Trajectory([t], retry_penalty(ep.arena), key, role, group))
                else:
                    kept.append(t)
            if kept:
                out.append(Trajectory(kept, float(ep.rewards[player]), key, role, group))
    return out


class AdvantageAssigner:
    """Holds estimator state (RAE baselines) and applies per-role estimator choices."""

    def __init__(self, default: str = "rae", per_role: dict[str, str] | None = None, rae_alpha: float = 0.95, gamma: float = 1.0) -> None:
        for name in [default, *(per_role or {}).values()]:
            if name not in adv.ESTIMATORS:
                raise ValueError(f"unknown advantage estimator {name!r}; choose from {adv.ESTIMATORS}")
        self.default = default
        self.per_role = dict(per_role or {})
        self.rae = adv.RAE(alpha=rae_alpha)
        self.gamma = gamma

    def estimator_for(self, role: str) -> str:
        return self.per_role.get(role, self.default)

    def advantages(self, trajs: list[Trajectory]) -> torch.Tensor:
        values = torch.zeros(len(trajs))
        by_estimator: dict[str, list[int]] = {}
        for i, t in enumerate(trajs):
            by_estimator.setdefault(self.estimator_for(t.role), []).append(i)
        for name, idx in by_estimator.items():
            rewards = torch.tensor([trajs[i].reward for i in idx], dtype=torch.float32)
            keys = [trajs[i].key for i in idx]
            groups = [trajs[i].group for i in idx]
            if name == "rae":
                a = self.rae(rewards, keys)
            elif name == "grpo":
                a = adv.grpo(rewards, groups)
            elif name == "dr_grpo":
                a = adv.dr_grpo(rewards, groups)
            elif name == "trr_plus_plus":
                a = adv.trr_plus_plus(rewards, keys)
            elif name == "reinforce_pp":
                a = adv.reinforce_pp(rewards)
            else:
                a = adv.reinforce(rewards)
            values[idx] = a
        return values

    def assign(self, episodes: list[Episode], retry_penalty: Callable[[str], float] = lambda arena: -1.0) -> list[Sample]:
        trajs = trajectories(episodes, retry_penalty)
        values = self.advantages(trajs)
        samples = []
        for t, a in zip(trajs, values.tolist()):
            n = len(t.turns)
            for k, turn in enumerate(t.turns):
                samples.append(
                    Sample(
                        prompt_ids=turn.prompt_ids,
                        completion_ids=turn.completion_ids,
                        old_logprobs=turn.logprobs,
                        advantage=a * self.gamma ** (n - 1 - k),
                        reward=t.reward,
                        role=t.role,
                        key=t.key,
                    )
                )
        return samples

    def state_dict(self) -> dict:
        return {"rae": self.rae.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.rae.load_state_dict(d["rae"])
