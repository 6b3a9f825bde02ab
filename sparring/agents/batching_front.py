"""The async front every batching engine shares: requests from concurrent episodes -> batches.

Episodes call `await engine.generate(prompt, sampling)` one request at a time; a scheduler task
gathers every request that is pending, groups them by sampling settings, cuts them into batches
of at most `max_batch_size` and hands each to the backend's synchronous `generate_batch`. Every
episode that is ready has submitted before a batch is cut, so each batch holds all the work there
is. Batch composition depends only on the order of requests, so runs are reproducible under a
seed. HF `generate` needs this to batch at all; vLLM batches continuously inside each call.
With `seeded` (engine.seeded_sampling) each request also carries the next seed of its episode's
stream (request_seeds.py) and `generate_batch` receives them as `seeds=`, one per prompt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sparring.agents.request_seeds import next_request_seed
from sparring.types import Generation, SamplingParams


@dataclass
class _Request:
    prompt_ids: list[int]
    sampling: SamplingParams
    future: asyncio.Future = field(repr=False)
    seed: int | None = None


@dataclass
class EngineStats:
    batches: int = 0
    sequences: int = 0
    generated_tokens: int = 0
    busy_s: float = 0.0


class BatchingFront:
    """Subclasses implement `generate_batch(prompts, sampling) -> list[Generation]`."""

    def __init__(self, max_batch_size: int = 256, gather_rounds: int = 3, generate_in_thread: bool = False,
                 seeded: bool = False) -> None:
        self.max_batch_size = max_batch_size
        self.seeded = seeded
        self.gather_rounds = gather_rounds
        # On the loop thread by default: a worker thread gets its own OpenMP team, which fights
        # the main thread's for the cores (measured: ~15% slower generate on 2 CPU cores). A
        # thread only helps when other coroutines (e.g. sandbox results) must progress meanwhile.
        self.generate_in_thread = generate_in_thread
        self.stats = EngineStats()
        self._queue: asyncio.Queue[_Request] | None = None
        self._server: asyncio.Task | None = None

    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams,
                       seeds: list[int | None] | None = None) -> list[Generation]:
        """`seeds` (seeded engines only): one per prompt, None where the request has no episode."""
        raise NotImplementedError

    def pause(self) -> None:
        """Called before each learner update (a backend that shares the GPU frees memory here)."""

    def metrics(self) -> dict[str, float]:
        """Backend figures for the step's metrics; none by default."""
        return {}

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._server is None or self._server.done() or self._server.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._server = loop.create_task(self._serve())
        future = loop.create_future()
        seed = next_request_seed() if self.seeded else None
        await self._queue.put(_Request(list(prompt_ids), sampling, future, seed))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            pending = [await self._queue.get()]
            # Let every episode that is ready submit before the batch is cut.
            quiet = 0
            while quiet < self.gather_rounds:
                await asyncio.sleep(0)
                before = len(pending)
                while not self._queue.empty():
                    pending.append(self._queue.get_nowait())
                quiet = quiet + 1 if len(pending) == before else 0
            by_sampling: dict[SamplingParams, list[_Request]] = {}
            for req in pending:
                by_sampling.setdefault(req.sampling, []).append(req)
            for sampling, reqs in by_sampling.items():
                for start in range(0, len(reqs), self.max_batch_size):
                    chunk = reqs[start:start + self.max_batch_size]
                    try:
                        prompts = [r.prompt_ids for r in chunk]
                        extra = {"seeds": [r.seed for r in chunk]} if self.seeded else {}
                        if self.generate_in_thread:
                            gens = await asyncio.to_thread(self.generate_batch, prompts, sampling, **extra)
                        else:
                            gens = self.generate_batch(prompts, sampling, **extra)
                    except Exception as e:  # the engine failed: every waiter hears it
                        for r in chunk:
                            if not r.future.done():
                                r.future.set_exception(e)
                        continue
                    for r, g in zip(chunk, gens):
                        if not r.future.done():
                            r.future.set_result(g)


    async def aclose(self) -> None:
        if self._server is not None:
            self._server.cancel()
            try:
                await self._server
            except (asyncio.CancelledError, Exception):
                pass
            self._server = None
            self._queue = None


