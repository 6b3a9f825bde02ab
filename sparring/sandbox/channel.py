"""Byte channels between the host and one warm worker (a pipe pair or a Docker attach socket).

A channel only moves bytes and enforces a deadline on reads; framing lives in ``_wire``.
The worker's stderr is never mixed into the protocol: it is logged, and its tail is kept for
error messages when a worker fails to start or dies.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import subprocess
import threading
import time
from typing import Protocol

logger = logging.getLogger(__name__)


class ChannelClosed(EOFError):
    """The worker went away (EOF) or did not answer before the deadline."""


class Channel(Protocol):
    def send(self, data: bytes) -> None: ...

    def read_exact(self, n: int) -> bytes: ...

    def set_deadline(self, deadline: float | None) -> None: ...

    def diagnostics(self) -> str: ...

    def close(self) -> None: ...


class StderrTail:
    """Logs a worker's stderr lines and keeps the last few for error messages."""

    def __init__(self, label: str, lines: int = 40) -> None:
        self.label = label
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._partial = b""

    def feed(self, data: bytes) -> None:
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            logger.warning("%s stderr: %s", self.label, line)

    def text(self) -> str:
        tail = list(self.lines)
        if self._partial:
            tail.append(self._partial.decode("utf-8", "replace"))
        return "\n".join(tail)


class BufferedReader:
    """``read_exact`` over a ``recv(max_bytes, timeout) -> bytes`` function."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.deadline: float | None = None

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ChannelClosed("sandbox worker did not answer in time")
        return left

    def recv(self, timeout: float | None) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.recv(self._remaining())
            if not chunk:
                raise ChannelClosed("sandbox worker closed its channel")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline


class _SpawnThread:
    """One long-lived thread that starts every worker process.

    bubblewrap's ``--die-with-parent`` uses PR_SET_PDEATHSIG, which fires when the *thread*
    that forked exits, not the process: a worker started from a short-lived pool thread
    would be SIGKILLed with it. Forking from this thread ties workers to the host process.
    """

    _lock = threading.Lock()
    _instance: _SpawnThread | None = None

    def __init__(self) -> None:
        import queue

        self.pid = os.getpid()
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="sandbox-spawner", daemon=True).start()

    @classmethod
    def get(cls) -> _SpawnThread:
        with cls._lock:
            # A forked host process does not inherit the thread: start its own.
            if cls._instance is None or cls._instance.pid != os.getpid():
                cls._instance = cls()
            return cls._instance

    def _loop(self) -> None:
        while True:
            fn, box, done = self._requests.get()
            try:
                box.append((True, fn()))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                box.append((False, e))
            done.set()

    def call(self, fn):  # noqa: ANN001, ANN201
        box: list = []
        done = threading.Event()
        self._requests.put((fn, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


def popen_from_spawn_thread(*args, **kwargs) -> subprocess.Popen:  # noqa: ANN002, ANN003
    return _SpawnThread.get().call(lambda: subprocess.Popen(*args, **kwargs))


class PipeChannel(BufferedReader):
    """A worker started as a local subprocess (bubblewrap, or the unsafe backend)."""

    def __init__(self, argv: list[str], env: dict[str, str], label: str,
                 cwd: str | None = None) -> None:
        super().__init__()
        self.label = label
        self.stderr_tail = StderrTail(label)
        self.proc = popen_from_spawn_thread(  # argv is built by the sandbox itself
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, close_fds=True, start_new_session=True)
        self._out = self.proc.stdout.fileno()
        self._stderr_thread = threading.Thread(
            target=self._pump_stderr, name=f"{label}-stderr", daemon=True)
        self._stderr_thread.start()

    def _pump_stderr(self) -> None:
        fd = self.proc.stderr.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.stderr_tail.feed(chunk)

    def send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise ChannelClosed(f"sandbox worker is gone: {e}") from e

    def recv(self, timeout: float | None) -> bytes:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            raise ChannelClosed("sandbox worker did not answer in time")
        return os.read(self._out, 1 << 20)

    def diagnostics(self) -> str:
        rc = self.proc.poll()
        if rc is None:
            state = "running"
        else:
            self._stderr_thread.join(timeout=1.0)
            state = f"exited with {rc}"
        return f"worker process {state}; its stderr:\n{self.stderr_tail.text()}"

    def close(self) -> None:
        """Close stdin (the worker exits on EOF), then make sure the process is gone."""
        proc = self.proc
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not exit on EOF; killing it", self.label)
            proc.kill()
            proc.wait()
        self._stderr_thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
