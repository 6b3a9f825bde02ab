"""From episodes to trainable samples: per-role rewards -> advantages -> per-turn credit.

A trajectory is one player's trainable turns in one episode, with that player's reward and the
baseline key (arena, role). Each role's trajectories go to the estimator chosen for that role;
every turn of a trajectory then gets the trajectory's advantage, discounted by gamma**k for a
turn k turns before the player's last. A failed attempt that was retried is its own
one-turn trajectory with the retry penalty as reward. With `baseline="state"`, RAE's turns are
credited against the mean return from the same prompt (`advantages.StateBaseline`), falling back
to the role's baseline where a state has not recurred; `return_discount` < 1 discounts those
returns by the turns left, so that a sooner win (or a later loss) is worth more, and `td_lambda`
< 1 credits a turn with a lambda-return instead of the final reward alone: it bootstraps from the
tabular value of the player's next decision state, so a move is judged by how good the position
it led to usually is rather than by how this one game happened to end (less variance).
"""

from __future__ import annotations

import hashlib
from array import array
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
    retry: bool = False


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
                    out.append(Trajectory([t], retry_penalty(ep.arena), key, role, group, retry=True))
                else:
                    kept.append(t)
            if kept:
                out.append(Trajectory(kept, float(ep.rewards[player]), key, role, group))
    return out


class AdvantageAssigner:
    """Holds estimator state (RAE baselines) and applies per-role estimator choices."""

    def __init__(self, default: str = "rae", per_role: dict[str, str] | None = None, rae_alpha: float = 0.95, gamma: float = 1.0,
                 baseline: str = "role", state_decay: float = 0.8, return_discount: float = 1.0,
                 td_lambda: float = 1.0) -> None:
        for name in [default, *(per_role or {}).values()]:
            if name not in adv.ESTIMATORS:
                raise ValueError(f"unknown advantage estimator {name!r}; choose from {adv.ESTIMATORS}")
        if baseline not in ("role", "state"):
            raise ValueError(f"unknown RAE baseline {baseline!r}; choose from ('role', 'state')")
        self.default = default
        self.per_role = dict(per_role or {})
        self.rae = adv.RAE(alpha=rae_alpha)
        self.state_baseline = adv.StateBaseline(decay=state_decay) if baseline == "state" else None
        self.gamma = gamma
        self.return_discount = return_discount
        if not 0.0 <= td_lambda <= 1.0:
            raise ValueError(f"td_lambda must be in [0, 1], got {td_lambda}")
        self.td_lambda = td_lambda

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

    def _state_credit(self, trajs: list[Trajectory], values: torch.Tensor) -> dict[tuple[int, int], float]:
        """Per-turn advantages against the state baseline for RAE's non-retry trajectories."""
        where, rewards, states, fallback, runs = [], [], [], [], []
        for i, t in enumerate(trajs):
            if t.retry or self.estimator_for(t.role) != "rae":
                continue
            role_baseline = t.reward - float(values[i])  # RAE's baseline before this batch's update
            n = len(t.turns)
            runs.append(range(len(where), len(where) + n))
            for k, turn in enumerate(t.turns):
                discount = self.return_discount ** (n - 1 - k)
                where.append((i, k))
                rewards.append(t.reward * discount)
                states.append((t.key, _digest(turn.prompt_ids)))
                fallback.append(role_baseline * discount)
        if not where:
            return {}
        returns = torch.tensor(rewards)
        targets = None if self.td_lambda == 1.0 else lambda v: self._lambda_returns(returns, v, runs)
        a = self.state_baseline(returns, states, torch.tensor(fallback), targets)
        return dict(zip(where, a.tolist()))

    def _lambda_returns(self, returns: torch.Tensor, values: torch.Tensor, runs: list[range]) -> torch.Tensor:
        """Per turn: G_k = d * ((1 - lambda) * V(next own state) + lambda * G_(k+1)), the last
        turn's G being its (final) return; at lambda 1 this is the discounted return itself."""
        lam, d = self.td_lambda, self.return_discount
        out = returns.clone()
        for run in runs:
            for j in reversed(run[:-1]):
                out[j] = d * ((1.0 - lam) * values[j + 1] + lam * out[j + 1])
        return out

    def assign(self, episodes: list[Episode], retry_penalty: Callable[[str], float] = lambda arena: -1.0) -> list[Sample]:
        trajs = trajectories(episodes, retry_penalty)
        values = self.advantages(trajs)
        per_turn = self._state_credit(trajs, values) if self.state_baseline is not None else {}
        samples = []
        for i, (t, a) in enumerate(zip(trajs, values.tolist())):
            n = len(t.turns)
            for k, turn in enumerate(t.turns):
                samples.append(
                    Sample(
                        prompt_ids=turn.prompt_ids,
                        completion_ids=turn.completion_ids,
                        old_logprobs=turn.logprobs,
                        advantage=per_turn.get((i, k), a) * self.gamma ** (n - 1 - k),
                        reward=t.reward,
                        role=t.role,
                        key=t.key,
                    )
                )
        return samples

    def state_dict(self) -> dict:
        d = {"rae": self.rae.state_dict()}
        if self.state_baseline is not None:
            d["state_baseline"] = self.state_baseline.state_dict()
        return d

    def load_state_dict(self, d: dict) -> None:
        self.rae.load_state_dict(d["rae"])
        if self.state_baseline is not None and "state_baseline" in d:
            self.state_baseline.load_state_dict(d["state_baseline"])


def _digest(ids: list[int]) -> str:
    """A short stable key for a prompt (Python's hash of strings changes between processes)."""
    return hashlib.blake2b(array("q", ids).tobytes(), digest_size=8).hexdigest()
