"""Data types of the sandbox: limits going in, results coming out, and its errors.

Every way an execution can end is a named ``status`` (plus a human ``detail``); a sandbox
never turns a failure into an empty success. Errors are raised only for misuse (bad
arguments) or a sandbox that cannot run at all (``SandboxUnavailable``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

Status = Literal["ok", "error", "timeout", "memory_limit", "output_limit", "killed"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory_limit", "output_limit", "killed")

#: A forked child starts with the warm parent's address space (about 20 MiB), so an
#: address-space limit below this would fail before the program's first line.
MIN_MEMORY_MB = 48


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): a worker could not be restarted."""


class SandboxUnavailable(SandboxError):
    """A backend's requirement is missing; the message says what to install or change."""


@dataclass(frozen=True, slots=True)
class ExecLimits:
    """Per-execution limits. Every field applies to one run of one program."""

    timeout_s: float = 5.0  # wall clock, from fork to exit
    memory_mb: int = 256  # address space (RLIMIT_AS) of each process of the program
    cpu_s: int | None = None  # CPU seconds per process (RLIMIT_CPU); None: ceil(timeout_s)
    max_output_bytes: int = 1_000_000  # per stream (stdout, stderr); more -> "output_limit"
    max_file_mb: int = 16  # largest file the program may write (RLIMIT_FSIZE)
    scratch_mb: int = 64  # size of the private scratch tmpfs (cwd, $HOME, $TMPDIR)
    max_open_files: int = 64  # RLIMIT_NOFILE
    max_processes: int = 16  # processes + threads of the sandbox uid (RLIMIT_NPROC)

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s)
                and self.timeout_s > 0):
            raise ValueError(f"ExecLimits.timeout_s must be a finite number > 0, "
                             f"got {self.timeout_s!r}")
        ints = {"memory_mb": MIN_MEMORY_MB, "max_output_bytes": 0, "max_file_mb": 1,
                "scratch_mb": 1, "max_open_files": 8, "max_processes": 1}
        for name, low in ints.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"ExecLimits.{name} must be an int >= {low}, got {value!r}")
        if self.cpu_s is not None and (not isinstance(self.cpu_s, int) or self.cpu_s < 1):
            raise ValueError(f"ExecLimits.cpu_s must be None or an int >= 1, "
                             f"got {self.cpu_s!r}")

    @property
    def effective_cpu_s(self) -> int:
        return self.cpu_s if self.cpu_s is not None else max(1, math.ceil(self.timeout_s))

    def updated(self, **changes: object) -> ExecLimits:
        """A copy with the given fields changed; ``None`` values mean "keep"."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown sandbox limit(s) {unknown}; known: {sorted(known)}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True, slots=True)
class ExecResult:
    """How one execution ended. ``detail`` names the reason for any status but "ok"."""

    status: Status
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0  # wall clock of the program, fork to exit
    exit_code: int | None = None  # None when killed by a signal or never started
    signal: int | None = None  # the signal that ended the program, if any
    detail: str = ""
    truncated: bool = False  # output was cut at ``max_output_bytes``
    cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What one warm worker reports about itself (used by leak checks)."""

    backend: str
    index: int
    uid: int | None
    runs: int  # executions served by the current worker process
    restarts: int  # workers replaced after dying (should stay 0)
    leftover_processes: int  # processes of the sandbox uid still alive (should be 0)
    worker_fds: int  # open fds of the warm parent (should stay constant)
    scratch_entries: int  # entries left in the scratch dir (should be 0)
    extra: dict[str, object] = field(default_factory=dict)
