"""The child side of one execution: confine this fresh fork, then run the program in it.

Standard library only: it runs inside the sandbox, imported by the worker, or as a script
(``--exec-child``) when a run asks for a fresh interpreter with a chosen hash seed.
"""

import os
import sys

from _wire import write_all

# Exit codes the child reserves to report outcomes the exit status cannot carry otherwise.
EXIT_MEMORY = 211
EXIT_SETUP_FAILED = 212
RESERVED_EXIT_CODES = (EXIT_MEMORY, EXIT_SETUP_FAILED)


def child_main(worker, req, stdin_fd, out_w, err_w):
    """Confine this fresh child, then run the untrusted code in it. Never returns."""
    try:
        os.setsid()
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 20)
        _set_rlimits(req)
        try:  # let the kernel's OOM killer pick the program before anything else
            fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            os.write(fd, b"1000")
            os.close(fd)
        except OSError:
            pass
        if worker.uid is not None:
            os.setgroups([])
            os.setresgid(worker.uid, worker.uid, worker.uid)
            os.setresuid(worker.uid, worker.uid, worker.uid)
        os.chdir(worker.scratch)  # as the sandbox uid: the scratch dir is 0700, its own
        # The seccomp filter (if any) is the worker's own, inherited through fork.
    except BaseException as e:  # noqa: BLE001 - the code must not run half-confined
        write_all(2, ("sandbox setup failed: %r\n" % (e,)).encode())
        os._exit(EXIT_SETUP_FAILED)
    if req.get("hash_seed") is not None:
        _exec_fresh_interpreter(req)
    os._exit(run_user_code(req["code"], fresh_stdio=False))


def _set_rlimits(req):
    import resource as r

    mib = 1024 * 1024
    limits = {
        r.RLIMIT_AS: req["memory_mb"] * mib,
        r.RLIMIT_CPU: req["cpu_s"],
        r.RLIMIT_FSIZE: req["max_file_mb"] * mib,
        r.RLIMIT_NOFILE: req["max_open_files"],
        r.RLIMIT_NPROC: req["max_processes"],
        r.RLIMIT_CORE: 0,
        r.RLIMIT_MEMLOCK: 0,
        r.RLIMIT_MSGQUEUE: 0,
    }
    for res, soft in limits.items():
        hard = soft + 1 if res == r.RLIMIT_CPU else soft  # SIGXCPU first, SIGKILL 1 s later
        r.setrlimit(res, (soft, hard))


def _exec_fresh_interpreter(req):
    """Re-exec a fresh interpreter with a chosen hash seed (determinism checks only)."""
    code_fd = os.memfd_create("code", 0)
    write_all(code_fd, req["code"].encode("utf-8"))
    os.lseek(code_fd, 0, os.SEEK_SET)
    os.dup2(code_fd, 3)  # inheritable copy at a known number
    env = dict(os.environ, PYTHONHASHSEED=str(req["hash_seed"]))
    os.execve(sys.executable, [sys.executable, "-s", "-S", os.path.abspath(__file__)],
              env)


def run_user_code(code, fresh_stdio=True):
    """Run ``code`` as ``__main__``; return the process exit code.

    A forked child keeps the worker's stdio objects (``fresh_stdio=False``): they wrap fds
    0-2, which now are this run's stdin (a memfd, or /dev/null) and output pipes, and their
    buffers are empty because the worker never uses them. Building new ones cost a third of
    a short run.
    """
    import builtins
    import types

    if fresh_stdio:
        sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
        sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace",
                              closefd=False, buffering=1)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    sys.argv = [""]
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    import linecache

    linecache.cache["<sandbox>"] = (len(code), None, code.splitlines(True), "<sandbox>")
    rc = 0
    try:
        exec(compile(code, "<sandbox>", "exec"), main.__dict__)
    except SystemExit as e:
        rc = _system_exit_code(e)
    except BaseException as e:  # noqa: BLE001 - report like the interpreter does
        # A program that fails after reaching its address-space limit ran out of memory,
        # whatever the exception says (CPython 3.11 can report a failed frame allocation as
        # "SystemError: error return without exception set").
        at_limit = isinstance(e, MemoryError) or _near_memory_limit()
        printed = _print_exception(e)
        rc = EXIT_MEMORY if at_limit or printed is MemoryError else 1
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        import atexit

        atexit._run_exitfuncs()
    except MemoryError:
        rc = EXIT_MEMORY
    except BaseException:  # noqa: BLE001
        rc = rc or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except MemoryError:
            rc = EXIT_MEMORY
        except BaseException:  # noqa: BLE001 - e.g. a closed or broken stream
            rc = rc or 1
    return rc


def _system_exit_code(e):
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        code &= 0xFF
        return 1 if code in RESERVED_EXIT_CODES else code
    try:
        print(code, file=sys.stderr)
    except BaseException:  # noqa: BLE001
        pass
    return 1


def _print_exception(exc):
    """Print the traceback; if that fails, at least one line naming the exception.
    Returns None, or the type of the error that stopped the printing."""
    try:
        import traceback

        traceback.print_exc()
        return None
    except BaseException as e:  # noqa: BLE001 - e.g. no memory left to format it
        failure = type(e)
    try:
        write_all(2, ("%s (the traceback could not be printed: %s)\n" % (
            type(exc).__name__, failure.__name__)).encode())
    except BaseException:  # noqa: BLE001
        pass
    return failure


def _near_memory_limit(margin=16 << 20):
    """Whether this process's peak address space came within ``margin`` of RLIMIT_AS."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return False
        fd = os.open("/proc/self/status", os.O_RDONLY)
        try:
            status = os.read(fd, 8192)
        finally:
            os.close(fd)
        peak_kb = int(status.split(b"VmPeak:", 1)[1].split()[0])
        return peak_kb * 1024 > limit - margin
    except MemoryError:
        return True
    except BaseException:  # noqa: BLE001
        return False


def _exec_child_main():
    """Entry of a freshly exec'd interpreter: the program arrives on fd 3."""
    with os.fdopen(3, "rb") as f:
        code = f.read().decode("utf-8")
    os._exit(run_user_code(code))


if __name__ == "__main__":
    _exec_child_main()
