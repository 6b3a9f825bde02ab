"""Advantage estimators: pure functions from sequence-level rewards to advantages.

Contract (DESIGN.md): 1-D float tensors of rewards; `groups`/`keys` are equal-length lists of
hashables; std is `torch.std` (unbiased) with eps=1e-6; a group or key with one member gets
advantage 0 in the normalising estimators. The trainer only calls these; tests check them
against hand-computed values.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Hashable, Sequence

import torch

EPS = 1e-6


def _check(rewards: torch.Tensor, labels: Sequence[Hashable] | None) -> torch.Tensor:
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(rewards.shape)}")
    if labels is not None and len(labels) != rewards.numel():
        raise ValueError(f"{len(labels)} group labels for {rewards.numel()} rewards")
    return rewards


def _members(labels: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    out: dict[Hashable, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        out[label].append(i)
    return out


def _group_normalise(rewards, labels, scale: bool) -> torch.Tensor:
    rewards = _check(rewards, labels)
    adv = torch.zeros_like(rewards)
    for idx in _members(labels).values():
        if len(idx) < 2:
            continue  # a lone member has no baseline to compare with
        r = rewards[idx]
        a = r - r.mean()
        if scale:
            a = a / (r.std() + EPS)
        adv[idx] = a
    return adv


def grpo(rewards: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """(r - mean_g) / (std_g + eps) within each group (GRPO)."""
    return _group_normalise(rewards, groups, scale=True)


def dr_grpo(rewards: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """r - mean_g: GRPO without the std division that biases towards easy/hard groups."""
    return _group_normalise(rewards, groups, scale=False)


def trr_plus_plus(rewards: torch.Tensor, keys: Sequence[Hashable]) -> torch.Tensor:
    """Task-relative REINFORCE++ (Absolute Zero): normalise within each (task, role) key."""
    return _group_normalise(rewards, keys, scale=True)


def reinforce_pp(rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE++: normalise over the whole batch."""
    rewards = _check(rewards, None)
    if rewards.numel() < 2:
        return torch.zeros_like(rewards)
    return (rewards - rewards.mean()) / (rewards.std() + EPS)


def reinforce(rewards: torch.Tensor) -> torch.Tensor:
    """Plain REINFORCE: the reward itself is the advantage (no baseline); the ablation arm."""
    return _check(rewards, None).clone()


class RAE:
    """SPIRAL's role-conditioned advantage estimation: an EMA reward baseline per key.

    Processed in the given order: a = r - b[key] with the baseline before the update, then
    b[key] = alpha * b[key] + (1 - alpha) * r; baselines start at 0.
    """

    def __init__(self, alpha: float = 0.95) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RAE alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.baselines: dict[Hashable, float] = {}

    def __call__(self, rewards: torch.Tensor, keys: Sequence[Hashable]) -> torch.Tensor:
        rewards = _check(rewards, keys)
        adv = torch.empty_like(rewards)
        for i, key in enumerate(keys):
            r = float(rewards[i])
            b = self.baselines.get(key, 0.0)
            adv[i] = r - b
            self.baselines[key] = self.alpha * b + (1.0 - self.alpha) * r
        return adv

    def state_dict(self) -> dict:
        # keys may be tuples: store as [key, value] pairs so the state survives JSON
        return {"alpha": self.alpha, "baselines": [[_jsonable(k), v] for k, v in self.baselines.items()]}

    def load_state_dict(self, d: dict) -> None:
        self.alpha = float(d["alpha"])
        self.baselines = {_hashable(k): float(v) for k, v in d["baselines"]}


class StateBaseline:
    """Mean return per (key, state), shrunk towards a fallback baseline: a tabular critic.

    A per-role baseline credits every move in a won game alike; comparing a move's return with
    the mean return from the same state (observation) credits the move itself, as far as that
    state recurs. For each sample: b = (sum of the other returns seen from its state +
    prior * fallback) / (their weight + prior), so a state seen once falls back to the role
    baseline and other samples of the same batch count (leave-one-out). After each batch the
    stored sums decay by `decay` (the policy moves on) and near-forgotten states are dropped.
    """

    def __init__(self, decay: float = 0.8, prior: float = 1.0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"state baseline decay must be in [0, 1), got {decay}")
        if prior <= 0:
            raise ValueError(f"state baseline prior must be > 0, got {prior}")
        self.decay = decay
        self.prior = prior
        self.table: dict[Hashable, list[float]] = {}  # state -> [weighted return sum, weight]

    def __call__(self, rewards: torch.Tensor, states: Sequence[Hashable], fallback: torch.Tensor,
                 targets: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """Advantages `target - b` (target: the return itself, or `targets(values)` built from
        every sample's state value, this batch included: TD(lambda) bootstraps), then the update."""
        rewards = _check(rewards, states)
        fallback = torch.as_tensor(fallback, dtype=torch.float32).tolist()
        batch: dict[Hashable, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for r, s in zip(rewards.tolist(), states):
            batch[s][0] += r
            batch[s][1] += 1.0
        baseline = torch.empty_like(rewards)
        values = torch.empty_like(rewards)
        for i, (r, s, f) in enumerate(zip(rewards.tolist(), states, fallback)):
            old_sum, old_n = self.table.get(s, (0.0, 0.0))
            total, n = old_sum + batch[s][0], old_n + batch[s][1]
            baseline[i] = (total - r + self.prior * f) / (n - 1.0 + self.prior)  # leave-one-out
            values[i] = (total + self.prior * f) / (n + self.prior)
        adv = (rewards if targets is None else targets(values)) - baseline
        kept = {}
        for s, (total, n) in self.table.items():
            if n * self.decay >= 0.05:
                kept[s] = [total * self.decay, n * self.decay]
        for s, (total, n) in batch.items():
            old = kept.setdefault(s, [0.0, 0.0])
            old[0] += total
            old[1] += n
        self.table = kept
        return adv

    def state_dict(self) -> dict:
        return {"decay": self.decay, "prior": self.prior, "table": [[_jsonable(k), v] for k, v in self.table.items()]}

    def load_state_dict(self, d: dict) -> None:
        self.decay, self.prior = float(d["decay"]), float(d["prior"])
        self.table = {_hashable(k): [float(x) for x in v] for k, v in d["table"]}


def _jsonable(key):
    return list(_jsonable(k) for k in key) if isinstance(key, tuple) else key


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


ESTIMATORS = ("rae", "grpo", "dr_grpo", "trr_plus_plus", "reinforce_pp", "reinforce")
