"""Per-episode request seeds: sampled tokens that do not depend on batching or placement.

Without them an engine samples from one global RNG, so what an episode draws depends on which
other requests share its batch and in what order they arrive: a run split over two rollout
workers (or with another `max_batch_size`) samples different tokens from the same seeds. With
`engine.seeded_sampling`, `Arena.play_step` opens a stream for each episode (`episode_stream`),
and every request that episode makes takes the next seed of its stream (`next_request_seed`):
seed n of episode s is a fixed mix of (s, n). The engine samples that request with its own
generator (HF: Gumbel-max noise per row; vLLM: its per-request `seed`), so an episode's tokens
depend only on its seed and the weights (bit for bit where the logits are; see docs/cluster.md).

The stream lives in a context variable: each episode runs in its own asyncio task, which copies
the context, so concurrent episodes never share a counter. Every seeded engine an episode asks
(its frozen or pool opponents' too) takes the episode's next seed; requests outside any episode
get None and sample from the global RNG.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass

_MASK = (1 << 63) - 1


@dataclass
class _Stream:
    seed: int
    next: int = 0


_current: ContextVar[_Stream | None] = ContextVar("sparring_request_stream", default=None)


@contextlib.contextmanager
def episode_stream(seed: int):
    """Requests made inside this block (in this task) draw seeds from episode `seed`'s stream."""
    token = _current.set(_Stream(seed))
    try:
        yield
    finally:
        _current.reset(token)


def next_request_seed() -> int | None:
    """The next seed of the current episode's stream; None outside an episode."""
    stream = _current.get()
    if stream is None:
        return None
    n = stream.next
    stream.next += 1
    return mix(stream.seed, n)


def mix(seed: int, n: int) -> int:
    """splitmix64 of (seed, n): distinct, well-spread 63-bit seeds for nearby inputs."""
    z = (seed * 0x9E3779B97F4A7C15 + (n + 1) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK
