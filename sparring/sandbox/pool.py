"""A pool of warm workers: dispatch, batching, asyncio, budgets, and worker replacement.

Backends differ only in how a worker is launched (a ``Launcher``: bubblewrap, Docker, or the
unsafe debugging launcher); everything about running code and reading results is here. A
worker that dies or stops answering is replaced and the execution it was serving is reported
as ``status="killed"`` with a detail saying so; it never turns into a silent success.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from . import _wire
from .channel import Channel, ChannelClosed
from .result import ExecLimits, ExecResult, SandboxError, SandboxUnavailable, WorkerStats

logger = logging.getLogger(__name__)

#: Modules every worker imports once before forking, so programs do not pay for them.
DEFAULT_PREIMPORT: tuple[str, ...] = (
    "abc", "array", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal",
    "enum", "fractions", "functools", "heapq", "io", "itertools", "json", "math", "operator",
    "random", "re", "statistics", "string", "struct", "textwrap", "traceback", "typing",
    "unicodedata",
)

#: Extra seconds the host waits beyond a program's timeout before declaring a worker hung.
HOST_GRACE_S = 15.0
START_TIMEOUT_S = 60.0
#: The environment every program sees: nothing from the host's environment.
SANDBOX_ENV: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MALLOC_ARENA_MAX": "2",
}


def new_sandbox_uid() -> int:
    """A dedicated uid per worker, so RLIMIT_NPROC and kill(-1) never touch another one."""
    return 200_000 + secrets.randbelow(2**31 - 400_000)


class Launcher(Protocol):
    """Starts one worker process in its isolation and returns a channel to it."""

    name: str
    max_memory_mb: int | None  # a per-run memory_mb above this cannot be honoured

    def spawn(self, index: int, config: dict[str, Any]) -> Channel: ...

    def worker_config(self, index: int) -> dict[str, Any]: ...

    def close(self) -> None: ...


class WorkerHandle:
    """Host side of one warm worker; replaces the worker process when it dies."""

    def __init__(self, launcher: Launcher, index: int) -> None:
        self.launcher = launcher
        self.index = index
        self.restarts = 0
        self.closed = False  # set by the pool: a closed handle never starts a worker again
        self.channel: Channel | None = None
        self.config: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.start()

    def start(self) -> None:
        self.config = self.launcher.worker_config(self.index)
        channel = self.launcher.spawn(self.index, self.config)
        try:
            channel.set_deadline(time.monotonic() + START_TIMEOUT_S)
            channel.send(_wire.encode_request(self.config))
            header, _, _ = _wire.read_response(channel.read_exact)
        except (ChannelClosed, OSError, ValueError) as e:
            diag = channel.diagnostics()
            channel.close()
            raise SandboxUnavailable(
                f"{self.launcher.name} sandbox worker {self.index} failed to start ({e}). "
                f"{diag}") from e
        if not header.get("ready"):
            diag = channel.diagnostics()
            channel.close()
            raise SandboxUnavailable(
                f"{self.launcher.name} sandbox worker {self.index} failed to start: "
                f"{header.get('error')}. {diag}")
        self.info = header
        self.channel = channel

    @property
    def uid(self) -> int | None:
        return self.config.get("uid")

    def request(self, msg: dict[str, Any], timeout_s: float) -> tuple[dict, bytes, bytes]:
        if self.channel is None:  # an earlier replacement failed: try once more
            self._restart()
        assert self.channel is not None
        self.channel.set_deadline(time.monotonic() + timeout_s)
        self.channel.send(_wire.encode_request(msg))
        header, out, err = _wire.read_response(self.channel.read_exact)
        if "internal_error" in header:
            raise ChannelClosed(f"worker internal error: {header['internal_error']}")
        return header, out, err

    def run(self, code: str, stdin: str, limits: ExecLimits,
            hash_seed: int | None) -> ExecResult:
        msg = {
            "op": "run", "code": code, "stdin": stdin, "timeout_s": limits.timeout_s,
            "memory_mb": limits.memory_mb, "cpu_s": limits.effective_cpu_s,
            "max_output_bytes": limits.max_output_bytes, "max_file_mb": limits.max_file_mb,
            "scratch_mb": limits.scratch_mb, "max_open_files": limits.max_open_files,
            "max_processes": limits.max_processes, "hash_seed": hash_seed,
        }
        try:
            header, out, err = self.request(msg, limits.timeout_s + HOST_GRACE_S)
        except (ChannelClosed, OSError, ValueError) as e:
            return self._replace_after_failure(e)
        if header.get("leftover_processes"):
            logger.error("%s worker %d: %d processes survived cleanup; replacing the worker",
                         self.launcher.name, self.index, header["leftover_processes"])
            self._restart()
        return ExecResult(
            status=header["status"],
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=header["duration_s"],
            exit_code=header["exit_code"],
            signal=header["signal"],
            detail=header["detail"],
            truncated=header["truncated"],
            cpu_s=header["cpu_s"],
        )

    def _replace_after_failure(self, error: BaseException) -> ExecResult:
        diag = self.channel.diagnostics() if self.channel else ""
        logger.error("%s sandbox worker %d failed (%s); replacing it. %s",
                     self.launcher.name, self.index, error, diag)
        self._restart()
        return ExecResult(status="killed", detail=f"sandbox worker died: {error}")

    def _restart(self) -> None:
        self.close()
        if self.closed:
            raise SandboxError("the sandbox is closed")
        self.restarts += 1
        try:
            self.start()
        except SandboxUnavailable as e:
            raise SandboxError(f"could not replace a dead sandbox worker: {e}") from e

    def stats(self) -> WorkerStats:
        header, _, _ = self.request({"op": "stats"}, 30.0)
        return WorkerStats(backend=self.launcher.name, index=self.index, uid=self.uid,
                           runs=header["runs"], restarts=self.restarts,
                           leftover_processes=header["leftover_processes"],
                           worker_fds=header["worker_fds"],
                           scratch_entries=header["scratch_entries"],
                           extra={"vm_kb": header["vm_kb"], "pid": self.info.get("pid"),
                                  "waiting_s": header["waiting_s"]})

    def close(self) -> None:
        if self.channel is not None:
            channel, self.channel = self.channel, None
            channel.close()


class WorkerPool:
    """N warm workers behind a queue; thread-safe; ``run_many``/``arun`` keep them all busy."""

    def __init__(self, launcher: Launcher, workers: int) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.launcher = launcher
        self._idle: queue.SimpleQueue[WorkerHandle] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            futures = [ex.submit(WorkerHandle, launcher, i) for i in range(workers)]
        handles = []
        errors = []
        for f in futures:
            try:
                handles.append(f.result())
            except BaseException as e:  # noqa: BLE001 - re-raised below after cleanup
                errors.append(e)
        if errors:
            for h in handles:
                h.close()
            raise errors[0]
        self.handles: list[WorkerHandle] = handles
        for h in handles:
            self._idle.put(h)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix=f"sandbox-{launcher.name}")

    @property
    def size(self) -> int:
        return len(self.handles)

    def _checkout(self) -> WorkerHandle:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        return self._idle.get()

    def run(self, code: str, stdin: str, limits: ExecLimits,
            hash_seed: int | None = None) -> ExecResult:
        handle = self._checkout()
        try:
            return handle.run(code, stdin, limits, hash_seed)
        finally:
            self._idle.put(handle)

    def run_many(self, codes: Sequence[str], stdins: Sequence[str], limits: ExecLimits,
                 batch_timeout_s: float | None) -> list[ExecResult]:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        deadline = None if batch_timeout_s is None else time.monotonic() + batch_timeout_s
        futures = [self._executor.submit(self._run_budgeted, c, s, limits, deadline)
                   for c, s in zip(codes, stdins)]
        return [f.result() for f in futures]

    def _run_budgeted(self, code: str, stdin: str, limits: ExecLimits,
                      deadline: float | None) -> ExecResult:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return ExecResult(status="timeout", detail="batch budget exhausted before start")
            if left < limits.timeout_s:
                limits = limits.updated(timeout_s=left)
        return self.run(code, stdin, limits)

    async def arun(self, code: str, stdin: str, limits: ExecLimits,
                   hash_seed: int | None = None) -> ExecResult:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self.run, code, stdin, limits, hash_seed))

    def stats(self) -> list[WorkerStats]:
        """Stats of every worker (waits until each one is idle)."""
        taken = [self._checkout() for _ in self.handles]
        try:
            return sorted((h.stats() for h in taken), key=lambda s: s.index)
        finally:
            for h in taken:
                self._idle.put(h)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for h in self.handles:
            h.closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        for h in self.handles:
            h.close()
        self.launcher.close()


def check_batch(codes: Sequence[str], stdins: Sequence[str] | None) -> list[str]:
    """Validate ``run_many`` inputs; returns the per-program stdin list."""
    if isinstance(codes, str):
        raise TypeError("run_many takes a sequence of programs, got one str; use run()")
    for i, c in enumerate(codes):
        if not isinstance(c, str):
            raise TypeError(f"codes[{i}] must be str, got {type(c).__name__}")
    if stdins is None:
        return [""] * len(codes)
    if isinstance(stdins, str):
        return [stdins] * len(codes)
    stdins = list(stdins)
    if len(stdins) != len(codes):
        raise ValueError(f"stdins has {len(stdins)} entries for {len(codes)} programs")
    for i, s in enumerate(stdins):
        if not isinstance(s, str):
            raise TypeError(f"stdins[{i}] must be str, got {type(s).__name__}")
    return stdins
