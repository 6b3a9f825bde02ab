"""Warm sandbox worker: runs inside the isolation, forks one fresh child per execution.

This file is executed as a script (``python -I -S _worker.py``) inside bubblewrap namespaces
or a Docker container, so it imports nothing but the standard library. The host side imports
it only for the wire format (``encode_request`` / ``read_response``).

Life of a worker: read a config frame, pre-import modules (paid once, shared copy-on-write by
every child), answer ``ready``; then serve ``run`` and ``stats`` frames until stdin closes.
Life of one execution: fresh scratch dir -> fork -> the child sets rlimits, drops to the
worker's dedicated unprivileged uid, installs the seccomp filter and executes the code ->
the worker collects capped output until the child exits, the wall clock runs out or the
output cap is hit -> every process of the execution is killed and reaped -> scratch emptied.

Wire format (host -> worker, ASCII only so Docker's attach stream never sees detach keys):
``b"<len>\\n" + json``. Worker -> host: ``b"<hlen> <outlen> <errlen>\\n" + json + out + err``.
"""

import errno
import json
import os
import select
import signal
import sys
import time

# Exit codes the child reserves to report outcomes the exit status cannot carry otherwise.
EXIT_MEMORY = 211
EXIT_SETUP_FAILED = 212
RESERVED_EXIT_CODES = (EXIT_MEMORY, EXIT_SETUP_FAILED)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2
CHUNK = 65536


# ----------------------------------------------------------------------------- wire format


def encode_request(msg):
    """Frame a host -> worker message (pure ASCII: no control bytes but the newline)."""
    body = json.dumps(msg, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return b"%d\n" % len(body) + body


def encode_response(header, out=b"", err=b""):
    body = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return b"%d %d %d\n" % (len(body), len(out), len(err)) + body + out + err


def read_line(read_exact):
    """Read bytes up to a newline with ``read_exact(1)``; headers are a few bytes long."""
    buf = bytearray()
    while True:
        c = read_exact(1)
        if c == b"\n":
            return bytes(buf)
        buf += c
        if len(buf) > 64:
            raise ValueError("sandbox protocol: frame header too long: %r" % bytes(buf[:64]))


def read_request(read_exact):
    n = int(read_line(read_exact))
    return json.loads(read_exact(n))


def read_response(read_exact):
    """Inverse of ``encode_response``: returns ``(header, stdout_bytes, stderr_bytes)``."""
    parts = read_line(read_exact).split()
    if len(parts) != 3:
        raise ValueError("sandbox protocol: bad response header %r" % parts)
    hlen, olen, elen = (int(p) for p in parts)
    header = json.loads(read_exact(hlen))
    return header, read_exact(olen), read_exact(elen)


# ----------------------------------------------------------------------------- worker state


class Worker:
    """One warm parent. ``cfg`` comes from the host (see ``sparring.sandbox.pool``)."""

    def __init__(self, cfg, infd, outfd):
        self.cfg = cfg
        self.infd = infd
        self.outfd = outfd
        self.uid = cfg.get("uid")  # None: do not change uid (unsafe backend as non-root)
        self.scratch = cfg["scratch"]
        self.scratch_mode = cfg["scratch_mode"]  # "mount" (own tmpfs per run) | "wipe"
        self.kill_mode = cfg["kill_mode"]  # "pidns" | "uid" | "pgroup"
        self.env = dict(cfg["env"])
        os.environ.clear()  # children inherit exactly this environment
        os.environ.update(self.env)
        self.runs = 0
        self.libc = None
        self.seccomp_prog = None
        if self.scratch_mode == "mount" or cfg.get("seccomp_bpf_hex"):
            import ctypes

            self.libc = ctypes.CDLL(None, use_errno=True)
        if cfg.get("seccomp_bpf_hex"):
            self._prepare_seccomp(bytes.fromhex(cfg["seccomp_bpf_hex"]))
        if self.kill_mode == "pidns" and os.getpid() > 2:
            # kill(-1) is only confined when this worker is alone in its pid namespace.
            raise RuntimeError("kill_mode=pidns but worker pid is %d (not in a fresh pid "
                               "namespace)" % os.getpid())
        if self.libc is None:
            import ctypes

            self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if self.scratch_mode == "wipe":
            os.makedirs(self.scratch, exist_ok=True)
            os.chmod(self.scratch, 0o700)
            if self.uid is not None:
                os.chown(self.scratch, self.uid, self.uid)
            self._wipe_scratch()

    def _prepare_seccomp(self, bpf):
        import ctypes

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        self._bpf_buf = ctypes.create_string_buffer(bpf, len(bpf))
        self.seccomp_prog = SockFprog(len(bpf) // 8, ctypes.addressof(self._bpf_buf))
        self._byref = ctypes.byref

    # ------------------------------------------------------------------------- serving

    def serve(self):
        self._send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0],
                    "vm_kb": _vm_kb()})
        while True:
            try:
                req = read_request(self._read_exact)
            except EOFError:
                return
            op = req.get("op")
            try:
                if op == "run":
                    reply = self.run(req)
                elif op == "stats":
                    reply = (self.stats(),)
                else:
                    raise ValueError("unknown op %r" % (op,))
            except Exception as e:  # noqa: BLE001 - report, then exit: state is unknown
                self._send({"internal_error": "%s: %s" % (type(e).__name__, e)})
                raise
            self._send(*reply)

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = os.read(self.infd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _send(self, header, out=b"", err=b""):
        data = memoryview(encode_response(header, out, err))
        while data:
            data = data[os.write(self.outfd, data):]

    def stats(self):
        """What an execution could have left behind: processes, fds, scratch entries."""
        return {"runs": self.runs, "leftover_processes": len(self._sandbox_pids()),
                "worker_fds": len(os.listdir("/proc/self/fd")),
                "scratch_entries": self._scratch_entries(), "vm_kb": _vm_kb()}

    def _sandbox_pids(self):
        """Live processes of the sandbox uid (or, without one, children of this worker)."""
        me = os.getpid()
        if self.uid is None:
            return _children_of(me)
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != me:
                try:
                    st = os.stat("/proc/" + name)
                except OSError:
                    continue
                if self.uid is not None and st.st_uid == self.uid:
                    pids.append(int(name))
        return pids

    def _scratch_entries(self):
        try:
            return len(os.listdir(self.scratch))
        except OSError:
            return 0

    # ------------------------------------------------------------------------- one execution

    def run(self, req):
        self.runs += 1
        stdin_fd = os.memfd_create("stdin", 0)
        _write_all(stdin_fd, req.get("stdin", "").encode("utf-8"))
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mounted = self._prepare_scratch(req)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ---- child: never returns
            _child_main(self, req, stdin_fd, out_w, err_w)
        for fd in (stdin_fd, out_w, err_w):
            os.close(fd)
        try:
            header, out, err = self._supervise(pid, req, t0, out_r, err_r)
        finally:
            os.close(out_r)
            os.close(err_r)
            leftover = self._kill_and_reap(pid)
            self._cleanup_scratch(mounted)
        header["leftover_processes"] = leftover
        return header, out, err

    def _prepare_scratch(self, req):
        if self.scratch_mode != "mount":
            return False
        opts = "size=%dm,mode=0700,nr_inodes=%d" % (req["scratch_mb"], 4096)
        if self.uid is not None:
            opts += ",uid=%d,gid=%d" % (self.uid, self.uid)
        rc = self.libc.mount(b"tmpfs", self.scratch.encode(), b"tmpfs",
                             MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.encode())
        if rc != 0:
            e = _ctypes_errno()
            raise OSError(e, "mount tmpfs on %s: %s" % (self.scratch, os.strerror(e)))
        return True

    def _cleanup_scratch(self, mounted):
        if mounted:
            if self.libc.umount2(self.scratch.encode(), MNT_DETACH) != 0:
                e = _ctypes_errno()
                raise OSError(e, "umount %s: %s" % (self.scratch, os.strerror(e)))
        else:
            self._wipe_scratch()

    def _wipe_scratch(self):
        """Empty the scratch dir whatever modes the program set (we own it or are root)."""
        import shutil

        def fix(func, path, _exc):
            parent = os.path.dirname(path)
            try:
                os.chmod(parent, 0o700)
                if os.path.isdir(path) and not os.path.islink(path):
                    os.chmod(path, 0o700)
            except OSError:
                pass
            func(path)

        for name in os.listdir(self.scratch):
            path = os.path.join(self.scratch, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, onerror=fix)
            else:
                os.unlink(path)

    def _supervise(self, pid, req, t0, out_r, err_r):
        """Collect capped output until the child exits, times out or floods the pipes."""
        cap = req["max_output_bytes"]
        deadline = t0 + req["timeout_s"]
        bufs = {out_r: bytearray(), err_r: bytearray()}
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in (out_r, err_r, pidfd):
            poller.register(fd, select.POLLIN)
        verdict = None  # set when we end the child ourselves
        status = None
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    verdict = ("timeout", "wall-clock timeout after %gs" % req["timeout_s"])
                    break
                for fd, _ev in poller.poll(max(1, int(left * 1000) + 1)):
                    if fd == pidfd:
                        status = os.wait4(pid, 0)
                        continue
                    chunk = os.read(fd, CHUNK)
                    if not chunk:
                        poller.unregister(fd)
                        continue
                    bufs[fd] += chunk
                    if len(bufs[fd]) > cap:
                        verdict = ("output_limit", "%s exceeded %d bytes" % (
                            "stdout" if fd == out_r else "stderr", cap))
                if verdict or status:
                    break
        finally:
            os.close(pidfd)
        duration = time.monotonic() - t0
        self._kill_all(pid)
        if status is None:
            status = os.wait4(pid, 0)
        self._drain(bufs, cap)
        truncated = any(len(b) > cap for b in bufs.values())
        out, err = (bytes(bufs[fd][:cap]) for fd in (out_r, err_r))
        header = _classify(status, verdict, req)
        header.update(duration_s=duration, truncated=truncated)
        return header, out, err

    def _drain(self, bufs, cap):
        """Read what the (now dead) writers left in the pipes, without blocking."""
        end = time.monotonic() + 1.0
        for fd, buf in bufs.items():
            while len(buf) <= cap and time.monotonic() < end:
                r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
                if not r:
                    break
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                buf += chunk

    def _kill_all(self, pid):
        """SIGKILL every process of this execution, including ones that left the group."""
        if self.kill_mode == "pidns":
            _ignore_missing(os.kill, -1, signal.SIGKILL)  # all but us (and pid 1)
        elif self.kill_mode == "uid":
            helper = os.fork()
            if helper == 0:
                try:
                    os.setgroups([])
                    os.setresgid(self.uid, self.uid, self.uid)
                    os.setresuid(self.uid, self.uid, self.uid)
                    _ignore_missing(os.kill, -1, signal.SIGKILL)  # every process of the uid
                finally:
                    os._exit(0)
            os.waitpid(helper, 0)
        else:
            _ignore_missing(os.killpg, pid, signal.SIGKILL)
            # As a subreaper we inherit every orphan: killing our children round after round
            # reaches processes that left the process group too.
            for child in _children_of(os.getpid()):
                _ignore_missing(os.kill, child, signal.SIGKILL)

    def _kill_and_reap(self, pid):
        """Kill until no child is left to reap; returns how many processes remain (0)."""
        deadline = time.monotonic() + 5.0
        while True:
            self._kill_all(pid)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] != 0:
                    pass
            except ChildProcessError:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.0005)
        return len(self._sandbox_pids())


def _classify(status, verdict, req):
    _pid, wstatus, rusage = status
    cpu = rusage.ru_utime + rusage.ru_stime
    exit_code = os.waitstatus_to_exitcode(wstatus)
    sig = -exit_code if exit_code < 0 else None
    header = {"exit_code": exit_code if sig is None else None, "signal": sig, "cpu_s": cpu}
    if verdict is not None:
        header["status"], header["detail"] = verdict
    elif sig is not None:
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= req["cpu_s"] - 0.05):
            header["status"], header["detail"] = "timeout", "CPU limit of %ds" % req["cpu_s"]
        else:
            header["status"], header["detail"] = "killed", "killed by %s" % name
    elif exit_code == 0:
        header["status"], header["detail"] = "ok", ""
    elif exit_code == EXIT_MEMORY:
        header["status"], header["detail"] = "memory_limit", "MemoryError at %d MiB" % (
            req["memory_mb"])
    elif exit_code == EXIT_SETUP_FAILED:
        header["status"], header["detail"] = "killed", "sandbox setup of the child failed"
    else:
        header["status"], header["detail"] = "error", "exit code %d" % exit_code
    return header


# ----------------------------------------------------------------------------- the child


def _child_main(worker, req, stdin_fd, out_w, err_w):
    """Confine this fresh child, then run the untrusted code in it. Never returns."""
    try:
        os.setsid()
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 20)
        _set_rlimits(req)
        try:  # let the kernel's OOM killer pick the program before anything else
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        if worker.uid is not None:
            os.setgroups([])
            os.setresgid(worker.uid, worker.uid, worker.uid)
            os.setresuid(worker.uid, worker.uid, worker.uid)
        os.chdir(worker.scratch)  # as the sandbox uid: the scratch dir is 0700, its own
        if worker.seccomp_prog is not None:
            libc = worker.libc
            if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(
                    PR_SET_SECCOMP, SECCOMP_MODE_FILTER, worker._byref(worker.seccomp_prog),
                    0, 0) != 0:
                raise OSError(_ctypes_errno(), "installing the seccomp filter failed")
    except BaseException as e:  # noqa: BLE001 - the code must not run half-confined
        _write_all(2, ("sandbox setup failed: %r\n" % (e,)).encode())
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
    _write_all(code_fd, req["code"].encode("utf-8"))
    os.lseek(code_fd, 0, os.SEEK_SET)
    os.dup2(code_fd, 3)  # inheritable copy at a known number
    env = dict(os.environ, PYTHONHASHSEED=str(req["hash_seed"]))
    worker_path = os.path.abspath(__file__)
    os.execve(sys.executable, [sys.executable, "-s", "-S", "-P", worker_path, "--exec-child"],
              env)


def run_user_code(code, fresh_stdio=True):
    """Run ``code`` as ``__main__``; return the process exit code.

    A forked child keeps the worker's stdio objects (``fresh_stdio=False``): they wrap fds
    0-2, which now are this run's stdin memfd and output pipes, and their buffers are empty
    because the worker never uses them. Building new ones costs a third of a short run.
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
    except MemoryError:
        rc = EXIT_MEMORY
    except SystemExit as e:
        rc = _system_exit_code(e)
    except BaseException:  # noqa: BLE001 - report like the interpreter does
        rc = _print_exception()
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


def _print_exception():
    try:
        import traceback

        traceback.print_exc()
        return 1
    except MemoryError:
        return EXIT_MEMORY
    except BaseException:  # noqa: BLE001
        return 1


# ----------------------------------------------------------------------------- helpers


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _ignore_missing(fn, *args):
    try:
        fn(*args)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass


def _children_of(ppid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 1 and int(fields[1]) == ppid:
                kids.append(int(name))
    return kids


def _ctypes_errno():
    import ctypes

    return ctypes.get_errno()


def _vm_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _preimport(names):
    import importlib

    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            failed.append(name)
    return failed


def main():
    if sys.argv[1:] == ["--exec-child"]:  # fresh interpreter for a chosen hash seed
        with os.fdopen(3, "rb") as f:
            code = f.read().decode("utf-8")
        os._exit(run_user_code(code))
    # Keep the protocol pipes on private fds; point 0/1 at /dev/null so that no stdio
    # object of this process (inherited by children) ever wraps them.
    infd, outfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    cfg = read_request(lambda n: _read_exact_fd(infd, n))
    try:
        if cfg.get("parent_death_signal", True):
            import ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # What every child's own path uses first, then what the host asked for.
        failed = _preimport(["types", "linecache", "atexit", "traceback"] +
                            list(cfg.get("preimport", [])))
        worker = Worker(cfg, infd, outfd)
        import gc

        gc.collect()
        gc.freeze()  # keep the pre-imported heap shared copy-on-write with every child
    except BaseException as e:  # noqa: BLE001 - tell the host why, then give up
        data = encode_response({"ready": False, "error": "%s: %s" % (type(e).__name__, e)})
        _write_all(outfd, data)
        raise
    if failed:
        sys.stderr.write("sandbox worker: could not pre-import %s\n" % ", ".join(failed))
    worker.serve()


def _read_exact_fd(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


if __name__ == "__main__":
    try:
        main()
    except EOFError:
        pass
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
