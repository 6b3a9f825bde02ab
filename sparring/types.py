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
    finish_reason: str  # "stop" (end-of-turn token) | "length"


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


@dataclass
class Episode:
    """One finished game or task: its turns and the reward each player earned."""

    arena: str
    task: str
    seed: int
    turns: list[Turn]
    rewards: list[float]  # one per player
    roles: list[str]  # the role each player acted in, by player index
    metadata: dict[str, Any] = field(default_factory=dict)

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
