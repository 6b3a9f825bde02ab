"""The typed data contract that flows between arenas, agents and the trainer.

Everything an arena emits and the trainer consumes is one of these dataclasses; no untyped
dicts cross module boundaries. Token ids and log-probs are plain lists so that episodes can be
produced by any engine (HF, vLLM, HTTP) and serialised to JSON without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Hashable


@dataclass(frozen=True)
class SamplingParams:
    """How one completion is sampled. temperature == 0 means greedy."""

    max_new_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0


@dataclass
class Generation:
    """One engine completion: what was sampled and how likely the engine found it."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]  # per completion token, under the sampling temperature
    text: str
    finish_reason: str  # "stop" (end-of-turn token) | "length" | "error" (the backend failed: no completion)


@dataclass
class Turn:
    """One action attempt by one player acting in one role."""

    role: str
    player: int
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    text: str
    action: str | None = None  # the canonical action applied, None when unparseable/illegal
    invalid: bool = False  # the output could not be turned into a legal action
    trainable: bool = True  # False for fixed opponents (random, scripted, frozen)
    truncated: bool = False  # the completion hit max_new_tokens without an end-of-turn token
    retried: bool = False  # a failed attempt that was followed by another attempt at the same move
    reward: float | None = None  # a retried attempt: its own reward (the arena's retry penalty);
    # otherwise an immediate per-turn reward added to the player's return (None: no such reward)


@dataclass
class Episode:
    """One finished game or task: its turns and the reward each player earned.

    The typed fields below are what the trainer and evaluation read; `metadata` is free-form
    information for logs and an arena's own metrics, never read by the trainer.
    """

    arena: str
    task: str
    seed: int
    turns: list[Turn]
    rewards: list[float]  # one per player: the final reward (per-turn rewards live on the turns)
    roles: list[str]  # the role each player acted in, by player index
    metadata: dict[str, Any] = field(default_factory=dict)
    forfeit: int | None = None  # the player whose invalid answer ended the episode
    learner_seats: list[int] | None = None  # the seats the trained model played; None: every seat
    group: Hashable | None = None  # GRPO group within (arena, role): episodes that share a prompt or
    # task; None: one group per (arena, role), so grpo equals trr_plus_plus there
    policy_version: int = 0  # learner updates behind the weights that played it (staleness = updates since)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sample:
    """One trainable completion with its advantage: the unit the learner consumes."""

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]
    advantage: float
    reward: float
    role: str
    key: Hashable  # the baseline key the advantage was computed under, e.g. (arena, role)
    value: float | None = None  # the critic's V(prompt) at rollout time (turn-level estimators, GAE)
    value_target: float | None = None  # the return the critic regresses to (advantage + value); None: none
