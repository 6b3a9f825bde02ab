"""The optional seccomp filter: a deny list that shrinks the kernel surface a program can reach.

The filter is compiled on the host with ``pyseccomp`` (libseccomp) and shipped to the worker
as raw BPF; the worker installs it on itself (``ctypes`` only) before serving, and every
child inherits it through fork. It is a second layer only: the namespaces, the unprivileged
uid and the rlimits do the containing. Denied calls fail with ``EPERM`` (``clone3`` with
``ENOSYS`` so that libc falls back to ``clone``, whose namespace flags are then checked);
syscalls of a foreign architecture (the i386 ABI through ``int 0x80``) kill the process,
which is libseccomp's default for a bad arch.
"""

from __future__ import annotations

import errno
import functools
import logging
import tempfile

from .result import SandboxUnavailable

logger = logging.getLogger(__name__)

#: Syscalls no ordinary program needs and that attacks on the kernel or on neighbours use:
#: tracing other processes, namespaces and the new mount API, kernel keyrings, eBPF, perf,
#: io_uring, userfaultfd, module loading, clock and host settings, and System V / POSIX
#: message IPC (objects that would outlive the program). ``mount``/``umount2`` stay allowed:
#: the (filtered) worker mounts each run's scratch tmpfs, and programs cannot use them, as
#: they hold no capabilities and may not create the user namespace that would grant some.
DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "pivot_root", "chroot", "unshare", "setns", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "name_to_handle_at", "open_by_handle_at", "fanotify_init", "quotactl",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "syslog", "vhangup", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "lookup_dcookie", "uselib", "mbind", "migrate_pages", "move_pages",
    "set_mempolicy", "memfd_secret",
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)

#: ``clone`` flags that create namespaces (a user namespace would hand the program
#: capabilities inside it, a large kernel surface).
CLONE_NAMESPACE_FLAGS: tuple[int, ...] = (
    0x00000080,  # CLONE_NEWTIME
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


@functools.lru_cache(maxsize=1)
def filter_bpf() -> bytes:
    """Compile the deny-list filter to BPF bytes (8 bytes per instruction)."""
    try:
        import pyseccomp as sc
    except ImportError as e:
        raise SandboxUnavailable(
            "seccomp=True needs the pyseccomp package and libseccomp: "
            "`pip install 'pyseccomp>=0.1.2'` and `apt-get install libseccomp2`, "
            "or pass seccomp=False") from e
    try:
        filt = sc.SyscallFilter(sc.ALLOW)
        skipped = []
        for name in DENIED_SYSCALLS:
            try:
                filt.add_rule(sc.ERRNO(errno.EPERM), name)
            except (ValueError, OSError):
                skipped.append(name)  # unknown to this kernel/libseccomp: nothing to deny
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for flag in CLONE_NAMESPACE_FLAGS:
            filt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        with tempfile.TemporaryFile() as f:
            filt.export_bpf(f)
            f.seek(0)
            bpf = f.read()
    except OSError as e:  # libseccomp missing or broken
        raise SandboxUnavailable(
            f"could not build the seccomp filter ({e}): install libseccomp2 "
            "(`apt-get install libseccomp2`) or pass seccomp=False") from e
    if skipped:
        logger.debug("seccomp: syscalls unknown here, not filtered: %s", skipped)
    if not bpf or len(bpf) % 8:
        raise SandboxUnavailable(f"seccomp filter export gave {len(bpf)} bytes (not BPF)")
    return bpf
