"""Builds the Docker backend's image offline, from this machine's own Python installation.

No registry is needed: the root filesystem is a tarball of the host interpreter (binary,
libpython, the standard library without tests, IDLE, tkinter or site-packages), the shared
libraries ``ldd`` says they load, ``/bin/sh`` for programs that spawn a shell, and the worker
script; ``docker import`` turns it into an image. The tag hashes everything that goes in, so
the image is built once per machine and reused until the interpreter or the worker changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .local import WORKER_DIR_INSIDE, WORKER_FILES, WORKER_PATH_INSIDE, host_python
from .result import SandboxUnavailable

logger = logging.getLogger(__name__)

REPOSITORY = "sparring-sandbox"
BUILDER_VERSION = "1"  # bump when the image layout changes
LABEL_PYTHON = "sparring.python"
LABEL_WORKER = "sparring.worker"
#: Standard-library parts programs never need in a sandbox (about 200 MB together).
EXCLUDED_STDLIB = {"site-packages", "test", "tests", "idle_test", "idlelib", "tkinter",
                   "turtledemo", "ensurepip", "lib2to3", "pydoc_data"}
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP = "root:x:0:\nnogroup:x:65534:\n"
LOCK_PATH = os.path.join(tempfile.gettempdir(), "sparring-sandbox-image.lock")


def image_tag() -> str:
    """``sparring-sandbox:<hash>`` of the interpreter, the worker and this builder."""
    python, prefix = host_python()
    st = os.stat(python)
    h = hashlib.sha256()
    for part in (BUILDER_VERSION, python, prefix, sys.version, str(st.st_size),
                 str(int(st.st_mtime)), *(f.read_text() for f in WORKER_FILES)):
        h.update(part.encode() + b"\0")
    return f"{REPOSITORY}:{h.hexdigest()[:16]}"


def ensure_image(client) -> str:  # noqa: ANN001 - a docker.DockerClient
    """Return the tag of the sandbox image, building it first if this engine lacks it."""
    import docker

    tag = image_tag()
    if _has_image(client, tag):
        return tag
    with _build_lock():
        if _has_image(client, tag):  # built by another process while we waited
            return tag
        t0 = time.monotonic()
        python, prefix = host_python()
        with tempfile.TemporaryDirectory(prefix="sparring-image-") as tmp:
            tar_path = os.path.join(tmp, "rootfs.tar")
            size = write_rootfs(tar_path, python, prefix)
            repo, _, version = tag.partition(":")
            changes = [f"LABEL {LABEL_PYTHON}={python}",
                       f"LABEL {LABEL_WORKER}={WORKER_PATH_INSIDE}",
                       "ENV LANG=C.UTF-8 LC_ALL=C.UTF-8"]
            try:
                client.api.import_image_from_file(tar_path, repository=repo, tag=version,
                                                  changes=changes)
            except docker.errors.DockerException as e:
                raise SandboxUnavailable(f"docker import of the sandbox image failed: {e}") from e
        if not _has_image(client, tag):
            raise SandboxUnavailable(f"docker import reported success but {tag} is missing")
        logger.info("built sandbox image %s (%.0f MB rootfs) in %.1fs", tag, size / 1e6,
                    time.monotonic() - t0)
        _remove_stale_images(client, tag)
    return tag


def _has_image(client, tag: str) -> bool:  # noqa: ANN001
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _remove_stale_images(client, keep: str) -> None:  # noqa: ANN001
    """Drop older sandbox images; ones still used by a container are kept by Docker."""
    import docker

    for image in client.images.list(name=REPOSITORY):
        if keep in image.tags:
            continue
        for tag in image.tags:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(tag)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- the rootfs


def write_rootfs(tar_path: str, python: str, prefix: str) -> int:
    """Write the image's root filesystem to ``tar_path``; returns its size in bytes."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(prefix) / "lib" / version
    libpython = sorted(Path(prefix, "lib").glob(f"lib{version}*.so*"))
    dynload = sorted((stdlib / "lib-dynload").glob("*.so"))
    shell = os.path.realpath("/bin/sh")
    libs = shared_libraries([python, shell, *map(str, libpython), *map(str, dynload)])
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        seen_dirs: set[str] = set()
        for d in ("/tmp", "/proc", "/dev", "/sys", "/etc", "/root", "/opt/sparring", "/bin"):
            _add_dir(tar, d, seen_dirs, mode=0o1777 if d == "/tmp" else 0o755)
        _add_file(tar, python, python, seen_dirs, mode=0o755)
        exe_dir = os.path.dirname(python)
        for alias in ("python3", "python"):
            _add_symlink(tar, os.path.join(exe_dir, alias), os.path.basename(python), seen_dirs)
        for lib in libpython:
            _add_file(tar, str(lib), str(lib), seen_dirs, mode=0o755)
        for src, dst in libs:
            _add_file(tar, src, dst, seen_dirs, mode=0o755)
        _add_file(tar, shell, "/bin/sh", seen_dirs, mode=0o755)
        for path in _stdlib_files(stdlib):
            _add_file(tar, str(path), str(path), seen_dirs)
        _add_dir(tar, str(stdlib / "site-packages"), seen_dirs)
        _add_bytes(tar, "/etc/passwd", PASSWD.encode(), seen_dirs)
        _add_bytes(tar, "/etc/group", GROUP.encode(), seen_dirs)
        if os.path.exists("/etc/ld.so.cache"):
            _add_file(tar, "/etc/ld.so.cache", "/etc/ld.so.cache", seen_dirs)
        for f in WORKER_FILES:
            _add_file(tar, str(f), f"{WORKER_DIR_INSIDE}/{f.name}", seen_dirs)
    return os.path.getsize(tar_path)


def _stdlib_files(stdlib: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_STDLIB
                         and not d.startswith("config-"))
        for name in sorted(files):
            if ".opt-1." in name or ".opt-2." in name:
                continue
            yield Path(root, name)


def shared_libraries(binaries: list[str]) -> list[tuple[str, str]]:
    """``(real file, path the loader asks for)`` for every library the binaries need."""
    found: dict[str, str] = {}
    pattern = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")
    for i in range(0, len(binaries), 64):
        try:
            out = subprocess.run(["ldd", *binaries[i:i + 64]], capture_output=True,
                                 text=True, check=False).stdout
        except FileNotFoundError as e:
            raise SandboxUnavailable("building the docker sandbox image needs `ldd` "
                                     "(package libc-bin)") from e
        for line in out.splitlines():
            m = pattern.search(line)
            if m:
                found[m.group(1)] = os.path.realpath(m.group(1))
    return sorted((real, wanted) for wanted, real in found.items())


def _add_dir(tar: tarfile.TarFile, path: str, seen: set[str], mode: int = 0o755) -> None:
    parts = Path(path).parts[1:]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d in seen:
            continue
        seen.add(d)
        info = tarfile.TarInfo(d)
        info.type = tarfile.DIRTYPE
        info.mode = mode if i == len(parts) else 0o755
        info.mtime = 0
        tar.addfile(info)


def _add_file(tar: tarfile.TarFile, src: str, dst: str, seen: set[str],
              mode: int | None = None) -> None:
    _add_dir(tar, os.path.dirname(dst), seen)
    name = dst.lstrip("/")
    if name in seen:
        return
    seen.add(name)
    st = os.stat(src)
    info = tarfile.TarInfo(name)
    info.size = st.st_size
    info.mode = mode if mode is not None else (st.st_mode & 0o755) | 0o444
    info.mtime = int(st.st_mtime)
    with open(src, "rb") as f:
        tar.addfile(info, f)


def _add_bytes(tar: tarfile.TarFile, dst: str, data: bytes, seen: set[str]) -> None:
    _add_dir(tar, os.path.dirname(dst), seen)
    seen.add(dst.lstrip("/"))
    info = tarfile.TarInfo(dst.lstrip("/"))
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_symlink(tar: tarfile.TarFile, path: str, target: str, seen: set[str]) -> None:
    name = path.lstrip("/")
    if name in seen:
        return
    seen.add(name)
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)
