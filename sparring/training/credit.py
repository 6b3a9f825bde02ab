"""From episodes to trainable samples: trajectories -> sequence advantages -> per-turn credit.

A trajectory is one player's trainable turns in one episode, with that player's reward (the
episode's final reward plus any per-turn rewards), the baseline key (arena, role) and the GRPO
group the arena declared ((arena, role, Episode.group); the key when the arena declared none).
A failed attempt that was retried (`Turn.retried`) is its own one-turn trajectory whose reward is
the turn's own (the arena's retry penalty). Each role's trajectories go to the estimator chosen
for that role (`advantages.estimator` / `per_role`, from the estimator registry); turn-level
credit (`turn_credit.TurnCredit`) then gives every turn its advantage.

A role whose estimator is turn-level (`gae`) skips both steps: each of its turns gets its advantage
straight from the rewards and the critic's values of the turns' prompts (the critic is asked once
per batch, all prompts together), and its samples carry the value and the return the critic
learns (a retried attempt gets r - V(s) but no value target: its penalty is not the position's
value). Critic metrics (explained variance, value error by role) are computed here, where the
rollout-time values meet the returns.

Over-long completions (`sampling.overlong`): under "invalid" a turn cut off at max_new_tokens
is trained like any invalid answer; under "mask" (DAPO's overlong filtering) it is estimated like
every other turn but yields no sample, so it stays out of the loss (`masked_overlong`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Literal

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
    """Holds the estimators (stateful ones keep state, e.g. RAE baselines) and turn credit.
    `values` (the critic's `values(prompts) -> list[float]`) is needed when a role's estimator is
    turn-level."""

    def __init__(self, advantages: AdvantageConfig | None = None, credit: CreditConfig | None = None,
                 overlong: Literal["invalid", "mask"] = "invalid",
                 values: Callable[[list[list[int]]], list[float]] | None = None) -> None:
        if overlong not in ("invalid", "mask"):
            raise ValueError(f"sampling.overlong must be 'invalid' or 'mask', got {overlong!r}")
        self.overlong = overlong
        self.cfg = advantages or AdvantageConfig()
        names = dict.fromkeys([self.cfg.estimator, *self.cfg.per_role.values()])
        self.estimators = {n: Estimator(n, {"alpha": self.cfg.rae_alpha} if n == "rae" else self.cfg.options.get(n))
                           for n in names}
        self.turn_credit = TurnCredit(credit or CreditConfig())
        self.values = values
        self.critic_stats: dict[str, float] = {}  # of the last assign(), for the step's metrics
        if values is None and any(e.turn_level for e in self.estimators.values()):
            raise ValueError("a turn-level estimator (gae) needs the critic's values; none was given")

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
        turn_level = [self.estimators[self.estimator_for(t.role)].turn_level for t in trajs]
        per_turn: list[list[float]] = [[] for _ in trajs]
        values: list[list[float | None]] = [[None] * len(t.turns) for t in trajs]
        targets: list[list[float | None]] = [[None] * len(t.turns) for t in trajs]
        seq = [i for i, flag in enumerate(turn_level) if not flag]
        if seq:
            sub = [trajs[i] for i in seq]
            for i, advs in zip(seq, self.turn_credit(sub, self.advantages(sub))):
                per_turn[i] = advs
        critic = [i for i, flag in enumerate(turn_level) if flag]
        if critic:
            self._critic_advantages(trajs, critic, per_turn, values, targets)
        trained = [[None if self.masked_overlong(turn) else g for turn, g in zip(trajs[i].turns, targets[i])] for i in critic]
        self.critic_stats = _critic_metrics([trajs[i] for i in critic], [values[i] for i in critic], trained)
        return [
            Sample(prompt_ids=turn.prompt_ids, completion_ids=turn.completion_ids, old_logprobs=turn.logprobs,
                   advantage=a, reward=t.reward, role=t.role, key=t.key, value=v, value_target=g)
            for t, advs, vs, gs in zip(trajs, per_turn, values, targets)
            for turn, a, v, g in zip(t.turns, advs, vs, gs) if not self.masked_overlong(turn)
        ]

    def _critic_advantages(self, trajs: list[Trajectory], which: list[int], per_turn, values, targets) -> None:
        """Turn-level estimators: per-turn advantages of trajectories `which` from their rewards
        and the critic's values (filled into per_turn / values / targets)."""
        prompts = [turn.prompt_ids for i in which for turn in trajs[i].turns]
        flat_values = iter(self.values(prompts))
        for i in which:
            values[i] = [next(flat_values) for _ in trajs[i].turns]
        by_estimator: dict[str, list[int]] = {}
        for i in which:
            by_estimator.setdefault(self.estimator_for(trajs[i].role), []).append(i)
        for name, idx in by_estimator.items():
            rewards, flat, dones = [], [], []
            for i in idx:
                t = trajs[i]
                n = len(t.turns)
                for k, turn in enumerate(t.turns):
                    own = t.reward if t.retry else (turn.reward or 0.0) + (t.final if k == n - 1 else 0.0)
                    rewards.append(own)
                    dones.append(k == n - 1)
                flat += values[i]
            adv = iter(self.estimators[name](torch.tensor(rewards), values=torch.tensor(flat), dones=dones).tolist())
            for i in idx:
                per_turn[i] = [next(adv) for _ in trajs[i].turns]
                if not trajs[i].retry:  # a retry's penalty is not its position's value
                    targets[i] = [a + v for a, v in zip(per_turn[i], values[i])]

    def state_dict(self) -> dict:
        return {"estimators": {n: e.state_dict() for n, e in self.estimators.items()}, **self.turn_credit.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        saved = d.get("estimators", {"rae": d["rae"]} if "rae" in d else {})  # older checkpoints: {"rae": ...}
        for name, state in saved.items():
            if name in self.estimators:
                self.estimators[name].load_state_dict(state)
        self.turn_credit.load_state_dict(d)


def _critic_metrics(trajs: list[Trajectory], values: list[list[float]], targets: list[list[float | None]]) -> dict[str, float]:
    """Explained variance of the trained returns by the rollout-time values (1: perfect, 0: no better
    than their mean; absent when the returns do not vary), and per role the mean value and the mean
    absolute error |V - return|."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for t, vs, gs in zip(trajs, values, targets):
        pairs.setdefault(t.role, []).extend((v, g) for v, g in zip(vs, gs) if g is not None)
    everything = [p for ps in pairs.values() for p in ps]
    if not everything:
        return {}
    v, g = torch.tensor(everything).T
    var = g.var(unbiased=False).item()
    out = {"critic/explained_variance": 1.0 - (g - v).var(unbiased=False).item() / var} if var > 0 else {}
    for role, ps in pairs.items():
        rv, rg = torch.tensor(ps).T
        out[f"critic/value/{role}"] = rv.mean().item()
        out[f"critic/value_error/{role}"] = (rv - rg).abs().mean().item()
    return out
