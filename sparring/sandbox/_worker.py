"""Warm sandbox worker: runs inside the isolation, forks one fresh child per execution.

Executed as a script (``python -I -S _worker.py``) inside bubblewrap namespaces or a Docker
container, next to ``_wire.py`` and ``_child.py``; standard library only.

Life of a worker: read a config frame, pre-import modules (paid once, shared copy-on-write by
every child), answer ``ready``; then serve ``run`` and ``stats`` frames until stdin closes.
Life of one execution: fresh scratch dir -> fork -> the child (``_child.child_main``) sets
rlimits, drops to the worker's dedicated unprivileged uid (keeping the worker's seccomp
filter) and runs the code -> the worker collects capped output until the child exits, the
wall clock runs out or the output cap is hit -> every process of the execution is killed
and reaped -> scratch discarded.
"""

import errno
import os
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _child import EXIT_MEMORY, EXIT_SETUP_FAILED, child_main  # noqa: E402
from _wire import encode_response, read_exact_fd, read_request, write_all  # noqa: E402

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2
CHUNK = 65536


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
        self.waiting_s = 0.0  # time spent waiting for the host's next request
        self._inbuf = bytearray()
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        if self.kill_mode == "pidns" and os.getpid() > 2:
            # kill(-1) is only confined when this worker is alone in its pid namespace.
            raise RuntimeError("kill_mode=pidns but worker pid is %d (not in a fresh pid "
                               "namespace)" % os.getpid())
        self.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if self.scratch_mode == "wipe":
            os.makedirs(self.scratch, exist_ok=True)
            os.chmod(self.scratch, 0o700)
            if self.uid is not None:
                os.chown(self.scratch, self.uid, self.uid)
            self._wipe_scratch()
        if cfg.get("seccomp_bpf_hex"):
            self._install_seccomp(bytes.fromhex(cfg["seccomp_bpf_hex"]))

    def _install_seccomp(self, bpf):
        """Filter this worker once; every child inherits it through fork (compiling the
        filter per child cost about 0.1 ms a run). Nothing the worker still does is denied."""
        import ctypes

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = SockFprog(len(bpf) // 8, ctypes.addressof(buf))
        if self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or self.libc.prctl(
                PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            raise OSError(_ctypes_errno(), "installing the seccomp filter failed")

    # ------------------------------------------------------------------------- serving

    def serve(self):
        self._send({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0],
                    "vm_kb": _vm_kb()})
        while True:
            t0 = time.monotonic()
            try:
                req = read_request(self._read_exact)
            except EOFError:
                return
            self.waiting_s += time.monotonic() - t0
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
        """Buffered: a request is one or two ``read`` calls, not one per header byte."""
        buf = self._inbuf
        while len(buf) < n:
            chunk = os.read(self.infd, max(CHUNK, n - len(buf)))
            if not chunk:
                raise EOFError
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _send(self, header, out=b"", err=b""):
        data = memoryview(encode_response(header, out, err))
        while data:
            data = data[os.write(self.outfd, data):]

    def stats(self):
        """What an execution could have left behind: processes, fds, scratch entries."""
        return {"runs": self.runs, "leftover_processes": len(self._sandbox_pids()),
                "worker_fds": len(os.listdir("/proc/self/fd")),
                "scratch_entries": self._scratch_entries(), "vm_kb": _vm_kb(),
                "waiting_s": self.waiting_s}

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
        stdin = req.get("stdin", "").encode("utf-8")
        if stdin:
            stdin_fd = os.memfd_create("stdin", 0)
            write_all(stdin_fd, stdin)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
        else:
            stdin_fd = self.devnull
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mounted = self._prepare_scratch(req)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ---- child: never returns
            child_main(self, req, stdin_fd, out_w, err_w)
        for fd in (out_w, err_w) if stdin_fd == self.devnull else (stdin_fd, out_w, err_w):
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
        open_pipes = {out_r, err_r}
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
                        open_pipes.discard(fd)
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
        if verdict or open_pipes:  # stop the writers; else _kill_and_reap does it
            self._kill_all(pid)
        if status is None:
            status = os.wait4(pid, 0)
        self._drain({fd: bufs[fd] for fd in open_pipes}, cap)
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
        """Kill until no child is left to reap; returns how many processes remain (0).

        No child left means no process of the run is left: every one of them is a descendant
        of this worker (pid namespace, or one uid) and, as a subreaper, it inherits orphans.
        """
        deadline = time.monotonic() + 5.0
        while True:
            self._kill_all(pid)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] != 0:
                    pass
            except ChildProcessError:
                return 0
            if time.monotonic() > deadline:
                return len(self._sandbox_pids())
            time.sleep(0.0005)


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
        header["status"] = "memory_limit"
        header["detail"] = "address-space limit of %d MiB reached" % req["memory_mb"]
    elif exit_code == EXIT_SETUP_FAILED:
        header["status"], header["detail"] = "killed", "sandbox setup of the child failed"
    else:
        header["status"], header["detail"] = "error", "exit code %d" % exit_code
    return header


# ----------------------------------------------------------------------------- helpers


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
    # Keep the protocol pipes on private fds; point 0/1 at /dev/null so that no stdio
    # object of this process (inherited by children) ever wraps them.
    infd, outfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    cfg = read_request(lambda n: read_exact_fd(infd, n))
    try:
        if cfg.get("parent_death_signal", True):
            import ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # What every child's own path uses first, then what the host asked for.
        failed = _preimport(["resource", "types", "linecache", "atexit", "traceback"] +
                            list(cfg.get("preimport", [])))
        worker = Worker(cfg, infd, outfd)
        import gc

        gc.collect()
        gc.freeze()  # keep the pre-imported heap shared copy-on-write with every child
    except BaseException as e:  # noqa: BLE001 - tell the host why, then give up
        data = encode_response({"ready": False, "error": "%s: %s" % (type(e).__name__, e)})
        write_all(outfd, data)
        raise
    if failed:
        sys.stderr.write("sandbox worker: could not pre-import %s\n" % ", ".join(failed))
    worker.serve()


if __name__ == "__main__":
    try:
        main()
    except EOFError:
        pass
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
