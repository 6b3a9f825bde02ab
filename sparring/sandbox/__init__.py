"""Isolated, fast execution of untrusted (model-written) Python programs.

    from sparring.sandbox import Sandbox
    with Sandbox(backend="local") as sb:              # also "docker"
        r = sb.run(code, stdin="", timeout_s=5, memory_mb=256)
        r.status    # "ok" | "error" | "timeout" | "memory_limit" | "output_limit" | "killed"
        results = sb.run_many(codes)                  # parallel, results in input order
        r = await sb.arun(code)                       # asyncio

How: a pool of warm workers, each isolated before any program arrives (bubblewrap
namespaces, or a Docker container), with common modules imported once. Each execution is a
fresh child forked from its worker: limits set, switched to the worker's own unprivileged
uid, seccomp filter installed, then the program runs. Afterwards every process of the run is
killed and reaped and the scratch dir is discarded. ``sparring.sandbox.calls`` has the code
arena helpers (call a function on inputs, check cases on the host, determinism check).

What it protects against (local backend; the docker backend adds the container's limits):
  - runaway CPU and sleeping: wall-clock timeout plus RLIMIT_CPU -> "timeout";
  - memory bombs: address-space limit per process (RLIMIT_AS) -> "memory_limit", and the
    OOM killer is pointed at the program first (oom_score_adj 1000);
  - fork bombs and thread spam: RLIMIT_NPROC, which binds because every program runs under
    a uid that no other process uses (one per worker; root is never used for programs);
  - disk fill: the only writable place is a size-limited tmpfs (/tmp, also cwd and $HOME),
    new for every run, plus RLIMIT_FSIZE; everything else is read-only;
  - output floods: stdout and stderr are capped -> "output_limit" (kept output is truncated);
  - fd exhaustion: RLIMIT_NOFILE;
  - network: an empty network namespace (its own loopback only); Docker: network "none";
  - host files and secrets: the root is empty but for /usr, the Python installation, a few
    harmless /etc files and the worker script, all read-only; /root, /home, the repository
    and the host's /tmp are not there; the environment is a fixed minimal one, never the
    host's; /proc shows only the sandbox's own pid namespace;
  - other processes: a pid namespace per worker; programs cannot signal or ptrace their
    worker (it runs as root, they do not) and cannot see host processes;
  - leftovers: after each run ``kill(-1)`` from the worker reaches every process of the run,
    including ones that called setsid or double-forked; the scratch tmpfs is unmounted;
    System V and POSIX message IPC (objects that would outlive the run) are denied;
  - kernel surface: seccomp deny-list (namespaces, mount, ptrace, bpf, io_uring, keyctl,
    perf, userfaultfd, module loading, clock setting, ...), no_new_privs, no capabilities;
  - state between runs: each run is a fresh fork of the same clean parent.

What it does NOT protect against:
  - kernel bugs reachable through allowed syscalls: this is namespaces plus seccomp, not a
    virtual machine; for hostile multi-tenant use put it inside gVisor or a microVM;
  - side channels and contention: concurrent runs share CPUs, caches and memory bandwidth;
    timeouts are wall-clock, so a busy machine makes programs time out sooner;
  - reading what is mounted: /usr and the whole Python installation (site-packages too) are
    readable by programs; do not keep secrets there;
  - total memory of one run: RLIMIT_AS is per process, so a run can use up to
    max_processes x memory_mb (4 GiB with the defaults; the docker backend also caps each
    container's total, by default at max(1 GiB, 2 x memory_mb)); the local backend creates
    no cgroups;
  - result integrity: a program controls its own stdout and exit code, and with ctypes can
    tamper with an in-process harness; expected answers never enter the sandbox, and
    ``calls`` compares results on the host, rebuilt only from builtin types;
  - hash randomisation: forked runs share their worker's hash seed (use ``hash_seed=`` or
    ``calls.check_determinism`` to run in fresh interpreters with chosen seeds);
  - the "unsafe" backend (debugging only) keeps rlimits and cleanup but has no namespaces.

Requirements: the local backend needs root (only root can switch each run to its own uid)
and bubblewrap; the docker backend needs the docker SDK and a running engine (the image is
built offline from this machine's Python). A missing requirement raises
``SandboxUnavailable`` saying what to install; there is no silent fallback to weaker
isolation.
"""

from .result import (ExecLimits, ExecResult, SandboxError, SandboxUnavailable, Status,
                     WorkerStats)
from .sandbox import BACKENDS, CodeRunner, Sandbox

__all__ = ["BACKENDS", "CodeRunner", "ExecLimits", "ExecResult", "Sandbox", "SandboxError",
           "SandboxUnavailable", "Status", "WorkerStats"]
