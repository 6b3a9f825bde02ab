"""Shared plumbing of the code benchmarks: ask a policy many questions at once, count outcomes.

All requests are issued concurrently (``asyncio.gather``) so an `HFEngine` behind an
`EnginePolicy` batches them; a semaphore bounds how many are in flight; `sample_count` checks the
shape every benchmark's scorer receives. This module does not score anything: each benchmark
reads the answer texts its own way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sparring.agents.roles import Role


@dataclass(frozen=True)
class Answer:
    """One sampled answer to one question."""

    text: str
    truncated: bool  # the engine hit max_new_tokens before an end-of-turn token


async def collect_answers(policy, questions: Sequence[tuple[Role, str]], samples: int,
                          max_in_flight: int = 1024) -> list[list[Answer]]:
    """``samples`` answers per ``(role, observation)``, in question order.

    An engine failure is not model output and propagates; whatever text the model writes is
    returned as is (scoring decides what it is worth).
    """
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
    gate = asyncio.Semaphore(max_in_flight)

    async def ask(role: Role, observation: str) -> Answer:
        async with gate:
            turn = await policy.act(role, 0, observation, None)
        return Answer(text=turn.text, truncated=turn.truncated)

    flat = await asyncio.gather(*(ask(role, obs) for role, obs in questions
                                  for _ in range(samples)))
    return [list(flat[i * samples:(i + 1) * samples]) for i in range(len(questions))]


def sample_count(items: int, answers: Sequence[Sequence], ks: Sequence[int], noun: str = "question") -> int:
    """How many samples each of `items` items has in `answers` (the same for all, >= 1), every
    pass@k in `ks` possible with it; a ValueError naming the problem otherwise."""
    if len(answers) != items:
        raise ValueError(f"{len(answers)} answer lists for {items} {noun}s")
    samples = len(answers[0]) if answers else 0
    if samples < 1 or any(len(a) != samples for a in answers):
        raise ValueError(f"every {noun} needs the same number (>= 1) of samples")
    for k in ks:
        if not isinstance(k, int) or not 1 <= k <= samples:
            raise ValueError(f"pass@{k} needs 1 <= k <= samples ({samples})")
    return samples
