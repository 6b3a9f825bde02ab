"""One HTTP request to an OpenAI-compatible server, every failure mapped to an `EndpointError`.

Shared by the chat opponent (http_policy.py) and the completions engine (openai_engine.py), which
count failures by `kind` and never let one escape as a crash. Standard library only.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request


class EndpointError(Exception):
    """One failed request; `kind` names the failure for the counters (http, timeout, connection,
    bad_response, or a caller's finer kind), `status` the HTTP status where there was one."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def send(url: str, *, timeout_s: float, body: bytes | None = None, method: str = "POST",
         headers: dict[str, str] | None = None, api_key: str | None = None, limit: int | None = None) -> bytes:
    """The body of a 2xx answer (at most `limit` bytes, if given); EndpointError for every other
    outcome: kind "http" (with `status`), "timeout", "connection" or "bad_response" (too large)."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read() if limit is None else response.read(limit + 1)
    except urllib.error.HTTPError as e:
        detail = e.read(300).decode("utf-8", "replace") if e.fp else ""
        raise EndpointError("http", f"HTTP {e.code}: {detail}".strip(), e.code) from None
    except (TimeoutError, socket.timeout):
        raise EndpointError("timeout", f"no answer within {timeout_s:g} s") from None
    except urllib.error.URLError as e:
        kind = "timeout" if isinstance(e.reason, (TimeoutError, socket.timeout)) else "connection"
        raise EndpointError(kind, f"{kind}: {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:  # resets, truncated bodies and the like
        raise EndpointError("connection", f"connection: {e}") from None
    if limit is not None and len(raw) > limit:
        raise EndpointError("bad_response", f"answer larger than {limit} bytes")
    return raw
