"""A stand-in OpenAI-compatible completions server (vLLM's dialect) for the openai engine's tests.

It serves a local HF model through `HFEngine` (one request at a time, like a server whose batch
is one), answering token-id prompts with token ids and per-token log-probs, plus the
`/sparring/weights` update protocol. `script` holds modes for the next requests ("slow",
"malformed", "server_error", "rejected", "no_logprobs", "no_token_ids", "bad_lengths",
"nan_logprob", "abort"; "tokens_only": ids only as "token_id:N" log-prob tokens); when it is
empty a request is answered normally. It records every request and the most it had in flight.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sparring.agents.hf_engine import HFEngine
from sparring.types import SamplingParams


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and writes JSON bodies."""

    def send_body(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout)

    def log_message(self, *args):
        pass


class LocalServer:
    """A threaded HTTP server on a free local port; `url` is its /v1 root."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class OpenAIStub(LocalServer):
    def __init__(self, model, tokenizer, served_name: str = "tiny", weights: bool = True, delay_s: float = 0.0,
                 slow_s: float = 2.0) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.engine = HFEngine(model, tokenizer)
        self.served_name = served_name
        self.weights = weights  # offers the /sparring/weights endpoint
        self.delay_s = delay_s  # every completion waits this long before it is computed
        self.slow_s = slow_s  # how long a "slow" reply waits
        self.script: list[str] = []
        self.requests: list[dict] = []  # {"path", "auth", "body"} of completion requests
        self.weight_posts: list[tuple[str, int]] = []  # (X-Sparring-Chunk, tensors) per weight POST
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()  # one generation or weight load at a time
        self._count = threading.Lock()
        outer = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path == "/v1/models":
                    return self._reply(200, {"object": "list", "data": [{"id": outer.served_name}]})
                if self.path == "/v1/sparring/weights" and outer.weights:
                    return self._reply(200, {"format": "safetensors"})
                self._reply(404, {"error": "not found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/sparring/weights" and outer.weights:
                    return self._reply(*outer.load(body, self.headers.get("X-Sparring-Chunk")))
                if self.path != "/v1/completions":
                    return self._reply(404, {"error": "not found"})
                request = json.loads(body)
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": request})
                with outer._count:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:  # the request counts as in flight until its answer is ready, not until it is sent:
                    # a client thread that has read an answer may send its next request at once
                    with outer._count:
                        mode = outer.script.pop(0) if outer.script else "ok"
                    time.sleep(outer.slow_s if mode == "slow" else outer.delay_s)
                    if mode == "malformed":
                        status, data = 200, b'{"choices": [{"text": "[bet]", "finish_'
                    elif mode == "server_error":
                        status, data = 500, json.dumps({"error": "overloaded"}).encode()
                    elif mode == "rejected":
                        status, data = 400, json.dumps({"error": "prompt too long"}).encode()
                    else:
                        status, data = 200, json.dumps(outer.complete(request, mode)).encode()
                finally:
                    with outer._count:
                        outer.in_flight -= 1
                self.send_body(status, data)

            def _reply(self, status: int, payload) -> None:
                self.send_body(status, json.dumps(payload).encode())

        self.serve(Handler)

    def complete(self, request: dict, mode: str) -> dict:
        """A vLLM-style completion answer for `request` (prompt as token ids)."""
        sampling = SamplingParams(request["max_tokens"], request.get("temperature", 1.0), request.get("top_p", 1.0))
        with self._lock:
            gen = self.engine.generate_batch([request["prompt"]], sampling)[0]
        ids, values = gen.completion_ids, gen.logprobs
        as_ids = request.get("return_tokens_as_token_ids") and mode != "no_token_ids"
        tokens = [f"token_id:{t}" if as_ids else self.tokenizer.decode([t]) for t in ids]
        if mode == "bad_lengths":
            values = values[:-1]
        if mode == "nan_logprob":
            values = [float("nan")] + values[1:]
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": [0] * len(ids),
                    "top_logprobs": [{tok: v} for tok, v in zip(tokens, values)]}
        choice = {"index": 0, "text": gen.text, "finish_reason": "abort" if mode == "abort" else gen.finish_reason,
                  "logprobs": logprobs if request.get("logprobs") is not None and mode != "no_logprobs" else None}
        if request.get("return_token_ids") and mode not in ("no_token_ids", "tokens_only"):
            choice["token_ids"] = ids
        return {"id": "cmpl-stub", "object": "text_completion", "model": self.served_name, "choices": [choice],
                "usage": {"prompt_tokens": len(request["prompt"]), "completion_tokens": len(ids)}}

    def load(self, body: bytes, chunk: str | None) -> tuple[int, dict]:
        from safetensors.torch import load

        try:
            tensors = load(body)
        except Exception as e:
            return 400, {"error": f"not safetensors: {e}"}
        unknown = sorted(set(tensors) - set(self.model.state_dict()))
        if unknown:
            return 400, {"error": f"unknown tensors {unknown[:5]}"}
        with self._lock:
            self.model.load_state_dict(tensors, strict=False)
        self.weight_posts.append((chunk, len(tensors)))
        return 200, {"loaded": len(tensors)}
