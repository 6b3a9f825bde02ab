"""Helpers of the sandbox tests (a module with a unique name: conftest.py is for fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys

from sparring.sandbox import ExecLimits, ExecResult, Sandbox

ATTACK_LIMITS = ExecLimits(timeout_s=3.0, memory_mb=256, max_output_bytes=100_000,
                           max_file_mb=16, scratch_mb=64, max_open_files=64,
                           max_processes=32)


def processes_of_uids(uids: list[int]) -> list[int]:
    """Host-wide pids (any namespace, containers included) owned by the given uids."""
    wanted = set(uids)
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid in wanted:
                    pids.append(int(name))
            except FileNotFoundError:
                pass
    return pids


def files_of_uids(uids: list[int], roots: tuple[str, ...] = ("/tmp", "/var/tmp", "/dev/shm")
                  ) -> list[str]:
    """Host files owned by a sandbox uid: programs must never create any on the host."""
    wanted = set(uids)
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    if os.lstat(path).st_uid in wanted:
                        found.append(path)
                except FileNotFoundError:
                    pass
    return found


class HostGuard:
    """Snapshots what an execution could leave behind, and asserts it left nothing."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.before = {s.index: s for s in sandbox.stats()}
        self.host_fds = len(os.listdir("/proc/self/fd"))
        self.sentinel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    def check(self, expect_restart: bool = False) -> None:
        after = self.sb.stats()
        for s in after:
            b = self.before[s.index]
            assert s.leftover_processes == 0, f"processes left behind: {s}"
            assert s.scratch_entries == 0, f"scratch not emptied: {s}"
            if not expect_restart:
                assert s.restarts == b.restarts, f"a worker died and was replaced: {s}"
                assert s.worker_fds == b.worker_fds, f"worker fds changed: {b} -> {s}"
        uids = self.sb.sandbox_uids
        assert processes_of_uids(uids) == [], "sandbox processes alive on the host"
        assert files_of_uids(uids) == [], "sandbox-owned files on the host"
        assert len(os.listdir("/proc/self/fd")) == self.host_fds, "host fds leaked"
        assert self.sentinel.poll() is None, "a host process was killed"
        ok = self.sb.run("print('still fine')")
        assert ok.status == "ok" and ok.stdout == "still fine\n", ok

    def close(self) -> None:
        self.sentinel.kill()
        self.sentinel.wait()


def describe(r: ExecResult) -> str:
    return (f"status={r.status} detail={r.detail!r} exit={r.exit_code} signal={r.signal} "
            f"stdout={r.stdout[-300:]!r} stderr={r.stderr[-600:]!r}")
