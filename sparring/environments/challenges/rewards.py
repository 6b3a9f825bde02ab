"""What the challenger and the reasoner are paid, from the reasoner's answers to one question.

Pass rate p: the share of the question's K sampled answers that are right, against the gold
answer (SPICE, Absolute Zero), or against the majority answer (R-Zero, no gold).

Challenger rewards (`CHALLENGER_REWARDS`):
- spice:       exp(-(p(1-p) - 0.25)^2 / (2 width)): a Gaussian of the pass-rate variance, 1 at
               p = 1/2 and exp(-0.0625 / 2 width) at p = 0 or 1 (SPICE; width 0.01 as we read
               the paper);
- uncertainty: 1 - 2|p - 1/2| (R-Zero), less the repetition penalty (diversity.py), floored
               at 0;
- learnability: 1 - p, and 0 where p is 0 or 1 (Absolute Zero's proposer reward).
An invalid task earns the arena's invalid penalty instead; the reasoner earns 1 for a right
answer and 0 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

ChallengerReward = Literal["spice", "uncertainty", "learnability"]
CHALLENGER_REWARDS = ("spice", "uncertainty", "learnability")


def spice_reward(p: float, width: float = 0.01) -> float:
    return math.exp(-((p * (1 - p) - 0.25) ** 2) / (2 * width))


def uncertainty_reward(p: float) -> float:
    return 1.0 - 2.0 * abs(p - 0.5)


def learnability_reward(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else 1.0 - p


def challenger_reward(kind: ChallengerReward, p: float, width: float = 0.01, repetition: float = 0.0) -> float:
    """The reward of a valid task whose pass rate is `p` (`repetition`: R-Zero's penalty)."""
    if kind == "spice":
        return spice_reward(p, width)
    if kind == "uncertainty":
        return max(0.0, uncertainty_reward(p) - repetition)
    if kind == "learnability":
        return learnability_reward(p)
    raise ValueError(f"unknown challenger reward {kind!r}; known: {CHALLENGER_REWARDS}")


@dataclass(frozen=True)
class Vote:
    """The majority answer of K samples: its key (None: no readable answer), the share of all K
    samples that gave it, and whether another answer had as many votes (ties go to the answer
    seen first, as `collections.Counter.most_common` orders them in R-Zero)."""

    key: Hashable | None
    share: float
    tied: bool


def majority_vote(keys: Sequence[Hashable | None]) -> Vote:
    """Majority over answer keys (None: unreadable, no vote; it still counts in K)."""
    counts: dict[Hashable, int] = {}
    for k in keys:
        if k is not None:
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return Vote(None, 0.0, False)
    top = max(counts.values())
    winner = next(k for k in counts if counts[k] == top)  # first seen among the most common
    tied = sum(1 for c in counts.values() if c == top) > 1
    return Vote(winner, top / len(keys), tied)


def in_band(p: float, band: float) -> bool:
    """R-Zero's filter of the reasoner's training questions: |p - 1/2| <= band."""
    return abs(p - 0.5) <= band + 1e-12


def answer_key(answer: str | None, fmt: str) -> Hashable | None:
    """What two answers share when they agree, for voting: the letter (mcq), the value (a
    number, any notation), else the normalised text; None for an unreadable answer."""
    from sparring.environments.problems.checking import mcq_letter, normalize, to_number

    if answer is None or not answer.strip():
        return None
    if fmt == "mcq":
        return mcq_letter(answer)
    number = to_number(answer)
    return ("number", number) if number is not None else ("text", normalize(answer))  # exact: no float overflow
