"""Turn-level credit: a trajectory's sequence-level advantage -> one advantage per turn.

Orthogonal to the estimator (any registered estimator, any role). For a trajectory of n turns
with final reward F, per-turn rewards r_j (Turn.reward; none: 0) and sequence advantage a from
its estimator, the estimator's implied baseline is b = (F + sum r_j) - a, and turn k's return
is G_k = d**(n-1-k) * F + sum_{j>=k} d**(j-k) * r_j (d: `return_discount`).

- baseline "sequence": turn k gets a + (G_k - G_0) = a - (the per-turn rewards before k): the
  estimator's advantage, less what was earned before the turn, so a turn is credited with what
  follows it (with no per-turn rewards, simply a).
- baseline "state": turn k gets G_k - V(s_k), V the decayed mean return seen from the same prompt
  (`advantages.StateBaseline`, leave-one-out within the batch), shrunk towards d**(n-1-k) * b
  where the prompt is rare: a state seen once gets exactly a (d**(n-1-k) * a with a discount),
  a recurring one is credited against what usually follows it (small board games, where
  positions recur). This works in reward units, so the config refuses it with the
  std-normalising estimators (grpo, trr_plus_plus, reinforce_pp).
Then every turn's advantage is multiplied by gamma**(n-1-k). A retried attempt is its own
one-turn trajectory and keeps its estimator's advantage.

Not here: sequence-level estimators (advantages.py) or how trajectories are cut (credit.py).
"""

from __future__ import annotations

import hashlib
from array import array
from typing import TYPE_CHECKING

import torch

from sparring.training.advantages import StateBaseline

if TYPE_CHECKING:
    from sparring.config import CreditConfig
    from sparring.training.credit import Trajectory


class TurnCredit:
    def __init__(self, cfg: CreditConfig) -> None:
        self.gamma = cfg.gamma
        self.discount = cfg.return_discount
        self.state_baseline = StateBaseline(decay=cfg.state_decay) if cfg.baseline == "state" else None

    def returns(self, t: Trajectory) -> list[float]:
        """G_k for every turn of `t` (the final reward discounted by the turns left, plus the
        discounted per-turn rewards from k on)."""
        n, d = len(t.turns), self.discount
        out, running = [0.0] * n, 0.0
        for k in reversed(range(n)):
            running = (t.turns[k].reward or 0.0) + d * running
            out[k] = d ** (n - 1 - k) * t.final + running
        return out

    def __call__(self, trajs: list[Trajectory], values: torch.Tensor) -> list[list[float]]:
        """Per trajectory, its turns' advantages (`values`: the sequence-level advantages)."""
        seq = values.tolist()
        returns = [None if t.retry else self.returns(t) for t in trajs]
        out = [[a] if g is None else [a + (gk - g[0]) for gk in g] for a, g in zip(seq, returns)]
        if self.state_baseline is not None:
            self._state_credit(trajs, seq, returns, out)
        for t, per_turn in zip(trajs, out):
            n = len(per_turn)
            for k in range(n):
                per_turn[k] *= self.gamma ** (n - 1 - k)
        return out

    def _state_credit(self, trajs: list[Trajectory], seq: list[float], returns: list[list[float] | None],
                      out: list[list[float]]) -> None:
        where, targets, states, fallback = [], [], [], []
        for i, (t, g) in enumerate(zip(trajs, returns)):
            if g is None:  # a retried attempt keeps its estimator's advantage
                continue
            baseline = t.reward - seq[i]  # the estimator's own baseline before this batch
            n = len(t.turns)
            for k, (turn, gk) in enumerate(zip(t.turns, g)):
                where.append((i, k))
                targets.append(gk)
                states.append((t.key, _digest(turn.prompt_ids)))
                fallback.append(baseline * self.discount ** (n - 1 - k))
        if not where:
            return
        adv = self.state_baseline(torch.tensor(targets), states, torch.tensor(fallback))
        for (i, k), a in zip(where, adv.tolist()):
            out[i][k] = a

    def state_dict(self) -> dict:
        return {} if self.state_baseline is None else {"state_baseline": self.state_baseline.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        if self.state_baseline is not None and "state_baseline" in d:
            self.state_baseline.load_state_dict(d["state_baseline"])


def _digest(ids: list[int]) -> str:
    """A short stable key for a prompt (Python's hash of strings changes between processes)."""
    return hashlib.blake2b(array("q", ids).tobytes(), digest_size=8).hexdigest()
