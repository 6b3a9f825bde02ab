"""Wire format between the host and a sandbox worker (standard library only).

Host -> worker: ``b"<len>\\n" + json``, pure ASCII (no control bytes but the newline), so
Docker's attach stream never sees its detach keys. Worker -> host:
``b"<hlen> <outlen> <errlen>\\n" + json + stdout bytes + stderr bytes``.
"""

import json
import os


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


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact_fd(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)
