"""Advantage estimators: pure functions from sequence-level rewards to advantages.

Contract (DESIGN.md): 1-D float tensors of rewards; `groups`/`keys` are equal-length lists of
hashables; std is `torch.std` (unbiased) with eps=1e-6; a group or key with one member gets
advantage 0 in the normalising estimators. The trainer only calls these; tests check them
against hand-computed values.

The registry (`register_estimator`) makes every estimator, built-in or a user's, one calling
convention: `estimator(rewards, groups=..., keys=...)`, each receiving only the arguments it names
(`groups`: the GRPO groups the arenas declared; `keys`: the (arena, role) baseline keys). A
registered class is a stateful estimator (RAE): one instance per run, its `state_dict` checkpointed.

An estimator that names `values` (and `dones`) is turn-level: it gets one entry per trained turn,
rewards being each turn's immediate reward (the episode's final reward on the player's last turn),
`values` the learned critic's V(s) of each turn's prompt and `dones` True on each trajectory's
last turn, and returns one advantage per turn (GAE). Naming `values` switches the critic on.
"""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from typing import Any, Hashable, Sequence

import torch

from sparring.registry import Registry, where

log = logging.getLogger(__name__)
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


def _group_normalise(rewards, labels, scale=None) -> torch.Tensor:
    """r - mean within each group, divided by `scale(group rewards)` when given; a group whose
    scale is None, or a lone member, gets 0."""
    rewards = _check(rewards, labels)
    adv = torch.zeros_like(rewards)
    for idx in _members(labels).values():
        if len(idx) < 2:
            continue  # a lone member has no baseline to compare with
        r = rewards[idx]
        a = r - r.mean()
        if scale is not None:
            divisor = scale(r)
            if divisor is None:
                continue
            a = a / divisor
        adv[idx] = a
    return adv


def _std(r: torch.Tensor) -> torch.Tensor:
    return r.std() + EPS


def _success_rate(r: torch.Tensor) -> float | None:
    """Mean of the rewards clipped to [0, 1]; None without a success."""
    success = float(r.clamp(0.0, 1.0).mean())
    return success if success > EPS else None


def grpo(rewards: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """(r - mean_g) / (std_g + eps) within each group (GRPO)."""
    return _group_normalise(rewards, groups, scale=_std)


def dr_grpo(rewards: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """r - mean_g: GRPO without the std division that biases towards easy/hard groups."""
    return _group_normalise(rewards, groups)


def maxrl(rewards: torch.Tensor, groups: Sequence[Hashable]) -> torch.Tensor:
    """(r - mean_g) / p_g within each group: MaxRL (Maximum Likelihood RL, arXiv 2602.02710).

    p_g is the group's success rate, the mean of its rewards clipped to [0, 1] (a penalty counts as
    a failure; for 0/1 rewards p_g is mean_g, the paper's estimator). The expected update is then
    close to the gradient of log p, where GRPO's and Dr.GRPO's is the gradient of p: p x smaller, so
    a prompt the model rarely solves gets little push exactly when it needs one; here it gets 1/p.
    Use it when rewards are pass/fail (answers checked right or wrong) and groups hold several
    answers to one prompt. A group without a success gets advantages 0 (the paper's no-success
    rule), as does a lone member."""
    return _group_normalise(rewards, groups, scale=_success_rate)


def trr_plus_plus(rewards: torch.Tensor, keys: Sequence[Hashable]) -> torch.Tensor:
    """Task-relative REINFORCE++ (Absolute Zero): normalise within each (task, role) key."""
    return _group_normalise(rewards, keys, scale=_std)


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
        """The baselines; alpha stays the config's, so a resumed run can change it (said in the log)."""
        if float(d["alpha"]) != self.alpha:
            log.info("rae: alpha %g from the config, %g in the checkpoint: going on with %g", self.alpha,
                     float(d["alpha"]), self.alpha)
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

    def __call__(self, rewards: torch.Tensor, states: Sequence[Hashable], fallback: torch.Tensor) -> torch.Tensor:
        """Advantages `return - b` (leave-one-out baselines), then the table update."""
        rewards = _check(rewards, states)
        fallback = torch.as_tensor(fallback, dtype=torch.float32).tolist()
        batch: dict[Hashable, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for r, s in zip(rewards.tolist(), states):
            batch[s][0] += r
            batch[s][1] += 1.0
        baseline = torch.empty_like(rewards)
        for i, (r, s, f) in enumerate(zip(rewards.tolist(), states, fallback)):
            old_sum, old_n = self.table.get(s, (0.0, 0.0))
            total, n = old_sum + batch[s][0], old_n + batch[s][1]
            baseline[i] = (total - r + self.prior * f) / (n - 1.0 + self.prior)  # leave-one-out
        adv = rewards - baseline
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


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: Sequence[bool], gamma: float = 1.0,
        lam: float = 1.0) -> torch.Tensor:
    """Generalised advantage estimation over concatenated trajectories (turn-level).

    Turn t of a trajectory: delta_t = r_t + gamma * V(s_{t+1}) - V(s_t), with V = 0 after the
    trajectory's last turn (`dones[t]`: a game's end is terminal); A_t = delta_t + gamma * lam *
    A_{t+1} within the trajectory. With gamma = lam = 1 (Open-Reasoner-Zero) A_t = G_t - V(s_t),
    the Monte-Carlo return less the critic's value; with a zero critic, the return itself.
    """
    rewards = _check(rewards, dones)
    values = torch.as_tensor(values, dtype=torch.float32)
    if values.shape != rewards.shape:
        raise ValueError(f"{values.numel()} values for {rewards.numel()} rewards")
    if len(dones) and not dones[-1]:
        raise ValueError("the last turn must end its trajectory (dones[-1] is False)")
    adv = torch.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(rewards.numel())):
        if dones[t]:
            next_value, running = 0.0, 0.0
        else:
            next_value = float(values[t + 1])
        delta = float(rewards[t]) + gamma * next_value - float(values[t])
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


class GAE:
    """The `gae` estimator: `gae` with the run's gamma and lambda (advantages.options.gae), whose
    defaults are Open-Reasoner-Zero's gamma = lambda = 1. Turn-level; needs the critic."""

    def __init__(self, gamma: float = 1.0, lam: float = 1.0) -> None:
        for name, v in (("gamma", gamma), ("lam", lam)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"gae {name} must be in [0, 1], got {v}")
        self.gamma, self.lam = gamma, lam

    def __call__(self, rewards: torch.Tensor, values: torch.Tensor, dones: Sequence[bool]) -> torch.Tensor:
        return gae(rewards, values, dones, self.gamma, self.lam)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d: dict) -> None:
        pass


def _jsonable(key):
    return list(_jsonable(k) for k in key) if isinstance(key, tuple) else key


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


# ----- the registry ------------------------------------------------------------------------------
ESTIMATOR_ARGS = ("groups", "keys", "values", "dones")
_ESTIMATORS: Registry[Any] = Registry("advantage estimator")


def _wanted_args(name: str, obj) -> tuple[str, ...]:
    """Which of groups/keys `obj` (a function, or a class's __call__) takes; TypeError otherwise."""
    params = list(inspect.signature(obj.__call__ if isinstance(obj, type) else obj).parameters.values())
    if isinstance(obj, type):
        params = params[1:]  # self
    if not params:
        raise TypeError(f"estimator {name!r} ({where(obj)}): its first argument must be the 1-D reward tensor")
    names = {p.name for p in params[1:]}
    if ("values" in names) != ("dones" in names):
        raise TypeError(f"estimator {name!r} ({where(obj)}): a turn-level estimator takes both values and dones")
    wants = []
    for p in params[1:]:
        if p.name in ESTIMATOR_ARGS:
            wants.append(p.name)
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"estimator {name!r} ({where(obj)}) takes argument {p.name!r}: after the rewards an "
                            f"estimator may only take {ESTIMATOR_ARGS} (or arguments with defaults)")
    return tuple(wants)


def register_estimator(name: str):
    """Decorator: register a sequence-level estimator under `name`.

    A function `f(rewards, [groups], [keys]) -> advantages` (same shape as rewards) is stateless;
    a class is stateful: constructed once per run with `advantages.options[name]` as keyword
    arguments, called like a function, and needs `state_dict()` / `load_state_dict(d)` (the state
    rides in checkpoints)."""

    def deco(obj):
        _wanted_args(name, obj)
        if isinstance(obj, type) and not all(callable(getattr(obj, m, None)) for m in ("state_dict", "load_state_dict")):
            raise TypeError(f"estimator {name!r} ({where(obj)}): a stateful (class) estimator needs state_dict() and "
                            "load_state_dict(d), so that its state survives a resume")
        return _ESTIMATORS.add(name, obj)

    return deco


def estimator_names() -> list[str]:
    return _ESTIMATORS.names()


def estimator_is_stateful(name: str) -> bool:
    """True for a registered class (constructed per run with options, state checkpointed)."""
    return isinstance(_ESTIMATORS.get(name), type)


def estimator_is_turn_level(name: str) -> bool:
    """True for an estimator that takes the critic's `values` (one advantage per turn: GAE)."""
    return "values" in _wanted_args(name, _ESTIMATORS.get(name))


# Built-ins that divide by a standard deviation or mean: their advantages are not in reward units.
NORMALISING = ("grpo", "maxrl", "trr_plus_plus", "reinforce_pp")


class Estimator:
    """A registered estimator ready to call: `est(rewards, groups, keys)` passes each argument the
    estimator takes and checks the result; stateless ones have an empty state."""

    def __init__(self, name: str, options: dict | None = None) -> None:
        obj = _ESTIMATORS.get(name)
        self.name = name
        self.wants = _wanted_args(name, obj)
        if isinstance(obj, type):
            try:
                self.fn = obj(**(options or {}))
            except TypeError as e:
                raise ValueError(f"estimator {name!r}: bad options {options}: {e}") from None
        elif options:
            raise ValueError(f"estimator {name!r} is a function and takes no options, got {sorted(options)}")
        else:
            self.fn = obj
        self.stateful = isinstance(obj, type)
        self.turn_level = "values" in self.wants

    def __call__(self, rewards: torch.Tensor, groups: Sequence[Hashable] = (), keys: Sequence[Hashable] = (),
                 values: torch.Tensor | None = None, dones: Sequence[bool] = ()) -> torch.Tensor:
        given = {"groups": list(groups), "keys": list(keys), "values": values, "dones": list(dones)}
        out = self.fn(rewards, **{k: given[k] for k in self.wants})
        out = torch.as_tensor(out, dtype=torch.float32)
        if out.shape != rewards.shape:
            raise ValueError(f"estimator {self.name!r} returned shape {tuple(out.shape)} for rewards of shape "
                             f"{tuple(rewards.shape)}")
        return out

    def state_dict(self) -> dict:
        return self.fn.state_dict() if self.stateful else {}

    def load_state_dict(self, d: dict) -> None:
        if self.stateful:
            self.fn.load_state_dict(d)


for _name, _obj in (("rae", RAE), ("grpo", grpo), ("dr_grpo", dr_grpo), ("maxrl", maxrl),
                    ("trr_plus_plus", trr_plus_plus), ("reinforce_pp", reinforce_pp), ("reinforce", reinforce),
                    ("gae", GAE)):
    register_estimator(_name)(_obj)
