"""``Sandbox``: the one entry point; picks a backend and exposes run / run_many / arun."""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .pool import DEFAULT_PREIMPORT, WorkerPool, check_batch
from .result import ExecLimits, ExecResult, WorkerStats

logger = logging.getLogger(__name__)

BACKENDS = ("local", "docker", "unsafe")


@runtime_checkable
class CodeRunner(Protocol):
    """What arenas need from a sandbox: ``Sandbox``, or a pool of them elsewhere
    (sparring.cluster.sandbox_pool.RaySandbox spreads executions over Ray actors)."""

    limits: ExecLimits

    def run(self, code: str, stdin: str = "", timeout_s: float | None = None, memory_mb: int | None = None,
            *, limits: ExecLimits | None = None, hash_seed: int | None = None) -> ExecResult: ...

    async def arun(self, code: str, stdin: str = "", timeout_s: float | None = None, memory_mb: int | None = None,
                   *, limits: ExecLimits | None = None, hash_seed: int | None = None) -> ExecResult: ...

    def run_many(self, codes: Sequence[str], stdins: Sequence[str] | str | None = None,
                 timeout_s: float | None = None, memory_mb: int | None = None, *,
                 limits: ExecLimits | None = None) -> list[ExecResult]: ...

    def close(self) -> None: ...


class Sandbox:
    """Runs untrusted Python programs in a pool of warm, isolated workers.

    ``backend``: "local" (bubblewrap namespaces; default), "docker" (containers), or "unsafe"
    (no isolation, debugging only, logs a warning). ``workers``: parallel executions
    (default: one per CPU). ``limits``: defaults for every run; ``run`` may override them.
    ``seccomp``: install the syscall deny-list filter in every program (needs pyseccomp).
    Use as a context manager, or call ``close()``: workers are processes/containers.
    """

    def __init__(self, backend: str = "local", *, workers: int | None = None,
                 limits: ExecLimits | None = None, seccomp: bool = True,
                 preimport: Sequence[str] = DEFAULT_PREIMPORT,
                 readonly_paths: Sequence[str] = (), **backend_options: Any) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {backend!r}; choose one of {BACKENDS}")
        if limits is not None and not isinstance(limits, ExecLimits):
            raise TypeError(f"limits must be an ExecLimits, got {type(limits).__name__}")
        self.backend = backend
        self.limits = limits or ExecLimits()
        workers = workers if workers is not None else (os.cpu_count() or 1)
        bpf = None
        if seccomp:
            from .seccomp import filter_bpf

            bpf = filter_bpf()
        preimport = tuple(preimport)
        if backend == "local":
            from .local import BubblewrapLauncher

            _no_options(backend, backend_options)
            launcher = BubblewrapLauncher(preimport, bpf, tuple(readonly_paths))
        elif backend == "docker":
            from .docker_backend import DockerLauncher

            if readonly_paths:
                raise ValueError("readonly_paths is not supported by the docker backend; "
                                 "build an image that contains the files instead")
            launcher = DockerLauncher(preimport, bpf, self.limits, **backend_options)
        else:
            from .local import UnsafeLauncher

            _no_options(backend, backend_options)
            launcher = UnsafeLauncher(preimport, bpf)
        try:
            self._pool = WorkerPool(launcher, workers)
        except BaseException:
            launcher.close()
            raise
        self._finalizer = weakref.finalize(self, self._pool.close)
        logger.info("sandbox ready: backend=%s workers=%d seccomp=%s", backend, workers,
                    bool(seccomp))

    # ----------------------------------------------------------------------------- running

    def run(self, code: str, stdin: str = "", timeout_s: float | None = None,
            memory_mb: int | None = None, *, limits: ExecLimits | None = None,
            hash_seed: int | None = None) -> ExecResult:
        """Run one program; blocks until it ends. Never raises for anything the program does.

        ``hash_seed`` runs it in a freshly exec'd interpreter with that PYTHONHASHSEED
        (slower; forked runs share their worker's hash seed).
        """
        _check_program(code, stdin)
        if hash_seed is not None and (not isinstance(hash_seed, int) or
                                      not 0 <= hash_seed <= 4294967295):
            raise ValueError(f"hash_seed must be an int in [0, 2**32 - 1], got {hash_seed!r}")
        return self._pool.run(code, stdin, self._limits(limits, timeout_s, memory_mb),
                              hash_seed)

    def run_many(self, codes: Sequence[str], stdins: Sequence[str] | str | None = None,
                 timeout_s: float | None = None, memory_mb: int | None = None, *,
                 limits: ExecLimits | None = None,
                 batch_timeout_s: float | None = None) -> list[ExecResult]:
        """Run programs in parallel on all workers; results in input order.

        ``batch_timeout_s`` is a budget for the whole batch: each run's timeout is cut to
        what is left, and programs not started in time end as "timeout" without running.
        """
        stdin_list = check_batch(codes, stdins)
        if batch_timeout_s is not None and not batch_timeout_s > 0:
            raise ValueError(f"batch_timeout_s must be > 0, got {batch_timeout_s!r}")
        return self._pool.run_many(list(codes), stdin_list,
                                   self._limits(limits, timeout_s, memory_mb), batch_timeout_s)

    async def arun(self, code: str, stdin: str = "", timeout_s: float | None = None,
                   memory_mb: int | None = None, *, limits: ExecLimits | None = None,
                   hash_seed: int | None = None) -> ExecResult:
        """``run`` for asyncio: many concurrent ``arun`` calls share the worker pool."""
        _check_program(code, stdin)
        return await self._pool.arun(code, stdin, self._limits(limits, timeout_s, memory_mb),
                                     hash_seed)

    async def arun_many(self, codes: Sequence[str], stdins: Sequence[str] | str | None = None,
                        timeout_s: float | None = None, memory_mb: int | None = None, *,
                        limits: ExecLimits | None = None) -> list[ExecResult]:
        stdin_list = check_batch(codes, stdins)
        lim = self._limits(limits, timeout_s, memory_mb)
        return list(await asyncio.gather(*(self._pool.arun(c, s, lim)
                                           for c, s in zip(codes, stdin_list))))

    def _limits(self, limits: ExecLimits | None, timeout_s: float | None,
                memory_mb: int | None) -> ExecLimits:
        base = limits if limits is not None else self.limits
        if not isinstance(base, ExecLimits):
            raise TypeError(f"limits must be an ExecLimits, got {type(base).__name__}")
        if timeout_s is not None or memory_mb is not None:
            base = base.updated(timeout_s=timeout_s, memory_mb=memory_mb)
        cap = self._pool.launcher.max_memory_mb
        if cap is not None and base.memory_mb > cap:
            raise ValueError(f"memory_mb={base.memory_mb} exceeds the {self.backend} backend's "
                             f"container memory ({cap} MiB); create the Sandbox with "
                             f"container_memory_mb >= {base.memory_mb}")
        return base

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def workers(self) -> int:
        return self._pool.size

    @property
    def sandbox_uids(self) -> list[int]:
        """The unprivileged uids programs run under (one per worker)."""
        return [h.uid for h in self._pool.handles if h.uid is not None]

    def stats(self) -> list[WorkerStats]:
        """Per-worker leak counters: leftover processes, scratch entries, worker fds."""
        return self._pool.stats()

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_program(code: object, stdin: object) -> None:
    if not isinstance(code, str):
        raise TypeError(f"code must be str, got {type(code).__name__}")
    if not isinstance(stdin, str):
        raise TypeError(f"stdin must be str, got {type(stdin).__name__}")


def _no_options(backend: str, options: dict[str, Any]) -> None:
    if options:
        raise TypeError(f"backend {backend!r} takes no options {sorted(options)}")
