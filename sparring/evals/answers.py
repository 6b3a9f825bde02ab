"""Shared plumbing of the code benchmarks: ask a policy many questions at once, count outcomes.

All requests are issued concurrently (``asyncio.gather``) so an `HFEngine` behind an
`EnginePolicy` batches them; a semaphore bounds how many are in flight; `sample_count` checks the
shape every benchmark's scorer receives. This module does not score anything: each benchmark
reads the answer texts its own way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sparring.agents.roles import Role
from sparring.sandbox import Sandbox

Report = TypeVar("Report")


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


async def answer_then_execute(policy, questions: Sequence[tuple[Role, str]], samples: int, sandbox,
                              score: Callable[[list[list[Answer]], object], Report]) -> Report:
    """Collect ``samples`` answers per question, then ``score(answers, sandbox)`` in a worker
    thread (its sandbox calls block) and set the report's ``generate_s``. The code benchmarks'
    shared shape; with ``sandbox`` None a local one is made for the call and closed after it."""
    t0 = time.perf_counter()
    answers = await collect_answers(policy, questions, samples)
    generate_s = time.perf_counter() - t0
    own = sandbox is None
    if own:
        sandbox = Sandbox(backend="local")
    try:
        report = await asyncio.to_thread(score, answers, sandbox)
    finally:
        if own:
            sandbox.close()
    report.generate_s = generate_s
    return report


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
