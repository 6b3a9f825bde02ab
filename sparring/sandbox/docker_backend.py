"""Docker backend: each warm worker is a long-lived container, reused for many executions.

Containers run the same worker as the local backend (as PID 1, so ``kill(-1)`` reaches every
process of a run and nothing else) with: no network (``network_mode=none``), a read-only
root, a size-limited tmpfs as the only writable place, memory and pids limits on the whole
container, all capabilities dropped but the six the worker needs to switch uid, kill and
clean the scratch dir, ``no-new-privileges``, and Docker's default seccomp profile beneath
ours. The host talks to the worker over the container's attached stdin/stdout.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time
from typing import Any

from .channel import BufferedReader, ChannelClosed, StderrTail
from .local import base_config
from .pool import SANDBOX_ENV, new_sandbox_uid
from .result import ExecLimits, SandboxUnavailable

logger = logging.getLogger(__name__)

LABEL = "sparring.sandbox"
#: Capabilities kept by the container; programs keep none (they run as a non-root uid).
CONTAINER_CAPS = ["SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER"]


def docker_client(timeout_s: float = 60.0):  # noqa: ANN201 - docker.DockerClient
    """A client for the local engine, or ``SandboxUnavailable`` saying what to install."""
    try:
        import docker
    except ImportError as e:
        raise SandboxUnavailable(
            "the docker sandbox backend needs the docker SDK: `pip install 'docker>=7.0'` "
            "(the `sandbox` extra of sparring)") from e
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as e:
        raise SandboxUnavailable(
            f"no Docker engine answers at {where} ({e}). Install and start one: "
            "`apt-get install docker.io && dockerd &` (scripts/install_system.sh does both), "
            "or use backend='local'") from e
    return client


class DockerLauncher:
    """Starts worker containers from the offline-built sandbox image."""

    name = "docker"

    def __init__(self, preimport: tuple[str, ...], seccomp_bpf: bytes | None,
                 limits: ExecLimits, *, image: str | None = None,
                 container_memory_mb: int | None = None, pids_limit: int | None = None,
                 cpus: float | None = None, cpuset_cpus: str | None = None) -> None:
        from .image import LABEL_PYTHON, LABEL_WORKER, ensure_image

        self.client = docker_client()
        self.preimport = preimport
        self.seccomp_bpf = seccomp_bpf
        self.image = image or ensure_image(self.client)
        labels = self.client.images.get(self.image).labels or {}
        self.python = labels.get(LABEL_PYTHON)
        self.worker_path = labels.get(LABEL_WORKER)
        if not self.python or not self.worker_path:
            raise SandboxUnavailable(
                f"image {self.image} lacks the {LABEL_PYTHON}/{LABEL_WORKER} labels; "
                "build it with sparring.sandbox.image.ensure_image")
        # One run may use max_processes processes of memory_mb each; the container caps
        # the sum (the cgroup OOM killer picks the program first: oom_score_adj=1000).
        self.container_memory_mb = container_memory_mb or max(1024, 2 * limits.memory_mb)
        self.max_memory_mb = self.container_memory_mb
        self.pids_limit = pids_limit or limits.max_processes + 16
        self.scratch_mb = limits.scratch_mb
        self.cpus = cpus
        self.cpuset_cpus = cpuset_cpus
        self.owner = f"{os.getpid()}-{id(self):x}"
        self._containers: list[str] = []

    def worker_config(self, index: int) -> dict[str, Any]:
        return base_config(new_sandbox_uid(), self.preimport, self.seccomp_bpf, "/tmp",
                           scratch_mode="wipe", kill_mode="pidns")

    def spawn(self, index: int, config: dict[str, Any]) -> DockerChannel:
        import docker

        api = self.client.api
        host_config = api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"size={self.scratch_mb}m,mode=0700,nosuid,nodev,noexec"},
            mem_limit=f"{self.container_memory_mb}m",
            memswap_limit=f"{self.container_memory_mb}m",
            pids_limit=self.pids_limit,
            cap_drop=["ALL"],
            cap_add=CONTAINER_CAPS,
            security_opt=["no-new-privileges"],
            ipc_mode="none",  # own IPC namespace and no writable /dev/shm
            auto_remove=True,
            nano_cpus=int(self.cpus * 1e9) if self.cpus else None,
            cpuset_cpus=self.cpuset_cpus,
        )
        try:
            created = api.create_container(
                self.image, command=[self.python, "-I", "-S", self.worker_path],
                stdin_open=True, tty=False, user="0:0", environment=dict(SANDBOX_ENV),
                working_dir="/", network_disabled=True, host_config=host_config,
                labels={LABEL: "1", f"{LABEL}.owner": self.owner,
                        f"{LABEL}.worker": str(index)})
            cid = created["Id"]
            self._containers.append(cid)
            sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                  "stream": 1})
            api.start(cid)
        except docker.errors.DockerException as e:
            raise SandboxUnavailable(f"could not start a sandbox container: {e}") from e
        return DockerChannel(self.client, cid, sock, f"sandbox-docker-{index}")

    def close(self) -> None:
        """Remove every container this launcher started, and wait until they are gone."""
        import docker

        for cid in self._containers:
            deadline = time.monotonic() + 30.0
            while True:
                try:
                    self.client.api.inspect_container(cid)
                except docker.errors.NotFound:
                    break
                if time.monotonic() > deadline:
                    logger.warning("sandbox container %s is still there after 30 s", cid[:12])
                    break
                try:
                    self.client.api.remove_container(cid, force=True)
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError:
                    time.sleep(0.05)  # e.g. "removal already in progress"
        self._containers.clear()
        self.client.close()


class DockerChannel(BufferedReader):
    """The container's attached stdio: raw bytes in, multiplexed frames out."""

    def __init__(self, client, cid: str, sock, label: str) -> None:  # noqa: ANN001
        super().__init__()
        self.client = client
        self.cid = cid
        self._sock_io = sock  # keeps the HTTP response (and so the socket) alive
        self.raw: socket.socket = sock._sock
        self.label = label
        self.stderr_tail = StderrTail(label)
        self._frame_left = 0
        self._frame_stream = 1

    def send(self, data: bytes) -> None:
        try:
            self.raw.sendall(data)
        except OSError as e:
            raise ChannelClosed(f"sandbox container is gone: {e}") from e

    def recv(self, timeout: float | None) -> bytes:
        """The next stdout payload; stderr frames are logged on the way."""
        self.raw.settimeout(timeout)
        try:
            while True:
                if self._frame_left == 0:
                    header = self._recv_exact(8)
                    if not header:
                        return b""
                    self._frame_stream, self._frame_left = struct.unpack(">BxxxL", header)
                    continue
                chunk = self.raw.recv(min(self._frame_left, 1 << 20))
                if not chunk:
                    return b""
                self._frame_left -= len(chunk)
                if self._frame_stream == 1:
                    return chunk
                self.stderr_tail.feed(chunk)
        except TimeoutError as e:
            raise ChannelClosed("sandbox container did not answer in time") from e
        except OSError as e:
            raise ChannelClosed(f"sandbox container connection failed: {e}") from e

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.raw.recv(n - len(buf))
            if not chunk:
                return b""
            buf += chunk
        return buf

    def diagnostics(self) -> str:
        import docker

        try:
            state = self.client.api.inspect_container(self.cid)["State"]
            status = f"container {self.cid[:12]} {state.get('Status')} " \
                     f"(exit {state.get('ExitCode')}, OOMKilled={state.get('OOMKilled')})"
        except docker.errors.DockerException:
            status = f"container {self.cid[:12]} is gone"
        return f"{status}; worker stderr:\n{self.stderr_tail.text()}"

    def close(self) -> None:
        """EOF on stdin ends the worker; the container then removes itself."""
        import docker

        try:
            self.raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            self.client.api.wait(self.cid, timeout=10)
        except Exception:  # noqa: BLE001 - any failure: force removal below
            pass
        try:
            self.client.api.remove_container(self.cid, force=True)
        except docker.errors.DockerException:
            pass  # auto_remove already did it
        try:
            self._sock_io.close()
            self.raw.close()
        except OSError:
            pass
