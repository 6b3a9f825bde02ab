"""Code execution on a pool of Ray actors, for arenas that run untrusted programs (Absolute Zero).

`RaySandbox` has the `Sandbox` interface the arenas use (`run`, `run_many`, `arun`,
`arun_many`, `limits`, `workers`, `close`) and spreads executions over `actors` Ray actors,
each holding its own local `Sandbox` (bubblewrap pool by default) on whatever node Ray placed it.
Validation throughput then grows with the cluster instead of with the driver's cores. The actors
are named by arena, so the driver's arena and every rollout worker's copy of it share one pool;
they belong to the process that created them first (the driver) and end with its Ray job.

Isolation is the local sandbox's (see sparring/sandbox/local.py); Ray adds none and removes none.
An actor that dies (its node lost) turns the executions it held into counted "killed" results
naming the cause, never an exception into the arena; the next call recreates it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from sparring.sandbox import ExecLimits, ExecResult, Sandbox
from sparring.sandbox.pool import check_batch


class SandboxActor:
    """One node's share of the pool: a local Sandbox behind an async Ray actor."""

    def __init__(self, backend: str, workers: int | None) -> None:
        self.sandbox = Sandbox(backend, workers=workers)

    async def arun(self, code: str, stdin: str, limits: ExecLimits, hash_seed: int | None) -> ExecResult:
        return await self.sandbox.arun(code, stdin, limits=limits, hash_seed=hash_seed)

    async def arun_many(self, codes: list[str], stdins: list[str], limits: ExecLimits) -> list[ExecResult]:
        return await self.sandbox.arun_many(codes, stdins, limits=limits)

    def workers(self) -> int:
        return self.sandbox.workers


class RaySandbox:
    """A Sandbox whose executions run on `actors` Ray actors (round robin)."""

    def __init__(self, actors: int, backend: str = "local", workers_per_actor: int | None = None,
                 cpus_per_actor: float = 1.0, limits: ExecLimits | None = None, name: str = "sparring-sandbox") -> None:
        import ray

        if actors < 1:
            raise ValueError(f"RaySandbox needs at least one actor, got {actors}")
        self.limits = limits or ExecLimits()
        self.backend = backend
        self._options = {"num_cpus": cpus_per_actor, "max_concurrency": 1000, "get_if_exists": True}
        self._spec = (backend, workers_per_actor if workers_per_actor is not None else max(1, round(cpus_per_actor)))
        self._names = [f"{name}-{i}" for i in range(actors)]
        self._remote = ray.remote(SandboxActor)
        self._actors = [self._actor(n) for n in self._names]
        self._turn = itertools.count()
        self.killed = 0  # executions lost with a dead actor (counted as "killed" results)

    def _actor(self, name: str):
        return self._remote.options(name=name, **self._options).remote(*self._spec)

    def _limits(self, limits: ExecLimits | None, timeout_s: float | None, memory_mb: int | None) -> ExecLimits:
        base = limits if limits is not None else self.limits
        return base.updated(timeout_s=timeout_s, memory_mb=memory_mb) if (timeout_s or memory_mb) else base

    def _pick(self) -> int:
        return next(self._turn) % len(self._actors)

    def _lost(self, index: int, error: Exception, count: int) -> list[ExecResult]:
        """Executions of a dead actor: counted "killed" results; the actor is recreated."""
        self.killed += count
        self._actors[index] = self._actor(self._names[index])
        return [ExecResult("killed", detail=f"sandbox actor {self._names[index]} died: {type(error).__name__}")] * count

    # ----- asyncio ----------------------------------------------------------------------------
    async def arun(self, code: str, stdin: str = "", timeout_s: float | None = None, memory_mb: int | None = None,
                   *, limits: ExecLimits | None = None, hash_seed: int | None = None) -> ExecResult:
        import ray

        i = self._pick()
        try:
            return await self._actors[i].arun.remote(code, stdin, self._limits(limits, timeout_s, memory_mb), hash_seed)
        except ray.exceptions.RayActorError as e:
            return self._lost(i, e, 1)[0]

    async def arun_many(self, codes: Sequence[str], stdins: Sequence[str] | str | None = None,
                        timeout_s: float | None = None, memory_mb: int | None = None, *,
                        limits: ExecLimits | None = None) -> list[ExecResult]:
        import asyncio

        refs, parts = self._submit(codes, stdins, self._limits(limits, timeout_s, memory_mb))
        results = await asyncio.gather(*refs, return_exceptions=True)
        return self._assemble(len(codes), parts, results)

    # ----- blocking ---------------------------------------------------------------------------
    def run(self, code: str, stdin: str = "", timeout_s: float | None = None, memory_mb: int | None = None,
            *, limits: ExecLimits | None = None, hash_seed: int | None = None) -> ExecResult:
        import ray

        i = self._pick()
        try:
            return ray.get(self._actors[i].arun.remote(code, stdin, self._limits(limits, timeout_s, memory_mb), hash_seed))
        except ray.exceptions.RayActorError as e:
            return self._lost(i, e, 1)[0]

    def run_many(self, codes: Sequence[str], stdins: Sequence[str] | str | None = None,
                 timeout_s: float | None = None, memory_mb: int | None = None, *,
                 limits: ExecLimits | None = None) -> list[ExecResult]:
        """Programs split evenly over the actors; results in input order."""
        import ray

        refs, parts = self._submit(codes, stdins, self._limits(limits, timeout_s, memory_mb))
        results = []
        for ref in refs:
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayActorError as e:
                results.append(e)
        return self._assemble(len(codes), parts, results)

    def _submit(self, codes, stdins, limits: ExecLimits):
        stdin_list = check_batch(codes, stdins)
        n = len(self._actors)
        parts = [(i, list(range(i, len(codes), n))) for i in range(n)]
        parts = [(i, idx) for i, idx in parts if idx]
        refs = [self._actors[i].arun_many.remote([codes[k] for k in idx], [stdin_list[k] for k in idx], limits)
                for i, idx in parts]
        return refs, parts

    def _assemble(self, total: int, parts, results) -> list[ExecResult]:
        import ray

        out: list[ExecResult | None] = [None] * total
        for (i, idx), res in zip(parts, results):
            if isinstance(res, ray.exceptions.RayActorError):
                res = self._lost(i, res, len(idx))
            elif isinstance(res, BaseException):
                raise res
            for k, r in zip(idx, res):
                out[k] = r
        return out

    @property
    def workers(self) -> int:
        """Programs that can run at once over the whole pool."""
        return len(self._actors) * self._spec[1]

    def close(self) -> None:
        """The actors are shared by every process that runs this arena and end with the Ray job."""
