"""Isolated execution of untrusted Python programs (see docs/sandbox.md).

Placeholder docstring; the full threat model follows once the backends are done.
"""

from .result import ExecLimits, ExecResult, SandboxError, SandboxUnavailable, Status, WorkerStats
from .sandbox import Sandbox

__all__ = ["ExecLimits", "ExecResult", "Sandbox", "SandboxError", "SandboxUnavailable",
           "Status", "WorkerStats"]
