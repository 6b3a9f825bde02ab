"""Launchers for workers on this machine: bubblewrap namespaces (default) and the unsafe one.

The bubblewrap worker runs in fresh pid, network, ipc, uts and mount namespaces whose root is
an empty read-only tmpfs with only ``/usr``, the Python installation, a few harmless ``/etc``
files and the worker script bound in, read-only. The worker keeps root inside (with just the
capabilities it needs: mounting the per-run scratch tmpfs, changing uid, killing) and every
child drops to the worker's own unprivileged uid before the program's first line.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .channel import Channel, PipeChannel
from .pool import SANDBOX_ENV, new_sandbox_uid
from .result import SandboxUnavailable

logger = logging.getLogger(__name__)

#: The worker's files (standard library only), and where they appear inside the sandboxes.
WORKER_FILES = tuple(Path(__file__).with_name(n) for n in ("_worker.py", "_child.py", "_wire.py"))
WORKER_SOURCE = WORKER_FILES[0]
WORKER_DIR_INSIDE = "/opt/sparring"
WORKER_PATH_INSIDE = f"{WORKER_DIR_INSIDE}/{WORKER_SOURCE.name}"
#: The writable place: a fresh tmpfs per execution, also cwd, $HOME and $TMPDIR.
SCRATCH = "/tmp"
#: Host files that carry no secrets and that ordinary programs read.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
             "nsswitch.conf", "hosts", "alternatives", "mime.types")
#: Capabilities the worker keeps (its children keep none: they change to a non-root uid).
WORKER_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL")


def host_python() -> tuple[str, str]:
    """The real interpreter binary and its installation prefix (venvs resolved)."""
    return os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)


def base_config(uid: int | None, preimport: tuple[str, ...], seccomp_bpf: bytes | None,
                scratch: str, scratch_mode: str, kill_mode: str) -> dict[str, Any]:
    return {"uid": uid, "scratch": scratch, "scratch_mode": scratch_mode,
            "kill_mode": kill_mode, "env": dict(SANDBOX_ENV), "preimport": list(preimport),
            "seccomp_bpf_hex": seccomp_bpf.hex() if seccomp_bpf else None}


class BubblewrapLauncher:
    """Workers in bubblewrap namespaces; needs root and the ``bwrap`` binary."""

    name = "local"
    max_memory_mb = None

    def __init__(self, preimport: tuple[str, ...], seccomp_bpf: bytes | None,
                 readonly_paths: tuple[str, ...] = ()) -> None:
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise SandboxUnavailable(
                "the local sandbox backend needs bubblewrap, which is not installed: "
                "`apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on "
                "Fedora), or run scripts/install_system.sh; or use backend='docker'")
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                "the local sandbox backend must run as root: each program runs under a "
                "dedicated unprivileged uid (so RLIMIT_NPROC binds and it cannot signal the "
                "worker), and only root can switch to it. Run as root or use backend='docker'")
        self.preimport = preimport
        self.seccomp_bpf = seccomp_bpf
        self.python, self.prefix = host_python()
        for p in readonly_paths:
            if not os.path.isabs(p) or not os.path.exists(p):
                raise ValueError(f"readonly_paths entry {p!r} is not an existing absolute path")
            if _is_under(p, SCRATCH):
                raise ValueError(f"readonly_paths entry {p!r} is under {SCRATCH}, which is the "
                                 "sandbox's scratch dir (a fresh tmpfs per run); move it")
        self.readonly_paths = readonly_paths

    def worker_config(self, index: int) -> dict[str, Any]:
        return base_config(new_sandbox_uid(), self.preimport, self.seccomp_bpf,
                           SCRATCH, scratch_mode="mount", kill_mode="pidns")

    def argv(self) -> list[str]:
        args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net",
                "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--hostname", "sandbox", "--clearenv"]
        for key, value in SANDBOX_ENV.items():
            args += ["--setenv", key, value]
        args += ["--cap-drop", "ALL"]
        for cap in WORKER_CAPS:
            args += ["--cap-add", cap]
        # / is bwrap's own empty tmpfs; bind in only what programs need, read-only.
        args += ["--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / top
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{top}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{top}"]
        for name in ETC_FILES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        binds = [self.prefix]
        python_dir = os.path.dirname(self.python)
        if not _is_under(python_dir, self.prefix) and not _is_under(python_dir, "/usr"):
            binds.append(python_dir)
        for path in (*binds, *self.readonly_paths):
            args += _dirs_0755(path)
            args += ["--ro-bind", path, path]
        args += _dirs_0755(WORKER_DIR_INSIDE + "/")
        for f in WORKER_FILES:
            args += ["--ro-bind", str(f), f"{WORKER_DIR_INSIDE}/{f.name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", SCRATCH,
                 "--remount-ro", "/"]
        args += [self.python, "-I", "-S", WORKER_PATH_INSIDE]
        return args

    def spawn(self, index: int, config: dict[str, Any]) -> Channel:
        return PipeChannel(self.argv(), env={}, label=f"sandbox-local-{index}")

    def close(self) -> None:
        pass


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _dirs_0755(path: str) -> list[str]:
    """``--dir`` every ancestor with mode 0755: bwrap copies host modes (``/root`` is 0700),
    and the sandbox uid must be able to traverse to the bound paths."""
    args: list[str] = []
    parts = Path(path).parts[1:-1] if not path.endswith("/") else Path(path).parts[1:]
    current = ""
    for part in parts:
        current += "/" + part
        if current in ("/usr",) or current.startswith("/usr/"):
            break
        args += ["--perms", "0755", "--dir", current]
    return args


class UnsafeLauncher:
    """DEBUGGING ONLY: workers without namespaces; programs see the host's files and network.

    What remains: rlimits, a clean environment, a private scratch dir, and (as root) a
    dedicated uid whose processes are all killed after each run.
    """

    name = "unsafe"
    max_memory_mb = None

    def __init__(self, preimport: tuple[str, ...], seccomp_bpf: bytes | None) -> None:
        logger.warning(
            "UNSAFE sandbox backend: programs run WITHOUT filesystem, network or process "
            "isolation (rlimits only). Use it for debugging, never for untrusted code.")
        self.preimport = preimport
        self.seccomp_bpf = seccomp_bpf
        self.python, prefix = host_python()
        # As root, programs switch to a dedicated uid, unless that uid could not read the
        # standard library (e.g. a pyenv under /root, mode 0700): then they stay root.
        self.drop_uid = os.geteuid() == 0 and _world_readable(prefix)
        if os.geteuid() == 0 and not self.drop_uid:
            logger.warning("UNSAFE sandbox backend: %s is not world-readable, so programs "
                           "run as ROOT, and RLIMIT_NPROC does not bind", prefix)
        self._dirs: list[str] = []

    def worker_config(self, index: int) -> dict[str, Any]:
        scratch = tempfile.mkdtemp(prefix="sparring-unsafe-sandbox-")
        os.chmod(scratch, 0o755)
        self._dirs.append(scratch)
        inner = os.path.join(scratch, "scratch")
        os.mkdir(inner, 0o700)
        uid = new_sandbox_uid() if self.drop_uid else None
        return base_config(uid, self.preimport, self.seccomp_bpf, inner, scratch_mode="wipe",
                           kill_mode="uid" if self.drop_uid else "pgroup")

    def spawn(self, index: int, config: dict[str, Any]) -> Channel:
        env = dict(config["env"], HOME=config["scratch"], TMPDIR=config["scratch"])
        config["env"] = env
        return PipeChannel([self.python, "-I", "-S", str(WORKER_SOURCE)], env=env,
                           label=f"sandbox-unsafe-{index}", cwd=config["scratch"])

    def close(self) -> None:
        for d in self._dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._dirs.clear()


def _world_readable(path: str) -> bool:
    """Whether any uid can traverse to ``path`` and read it."""
    current = Path(path)
    for p in [current, *current.parents]:
        if not os.stat(p).st_mode & 0o005:
            return False
    return True
