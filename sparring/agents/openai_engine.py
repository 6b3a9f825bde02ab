"""`engine.backend: openai` — rollouts from an external OpenAI-compatible completions server.

The server (vLLM's `vllm serve`, or anything that speaks the same dialect) does the batching:
every `generate` is one POST to `{base_url}/completions` with the prompt as token ids, sent from
a pool of `max_concurrency` threads, so the requests of all concurrent episodes are in flight
together. Training needs exactly what was sampled and how likely it was, so each request asks for
token ids back (`return_token_ids`; or `return_tokens_as_token_ids`, which spells each log-prob
token "token_id:123") and the log-prob of every sampled token (`logprobs: 1`). A server that
gives neither cannot train: the first such answer raises `MissingFieldError` naming the field.

The server is untrusted. Timeouts, refused connections, HTTP errors and answers that are not a
valid completion (bad JSON, missing or inconsistent fields, ids outside the vocabulary,
non-finite log-probs) are retried `retries` times, counted in `stats.errors` by kind (and in
`metrics()`), and never raise: the request yields an empty completion with finish_reason
"error", which the role cannot parse (an invalid turn) and `batching.build` drops (no sample).

Weights (`weight_sync`): TRL's `vllm-serve` takes new weights over NCCL, which needs the GPUs
to share a process group. This backend instead defines a plain-HTTP protocol a server may add:

    GET  {base_url}/sparring/weights   -> 200 {"format": "safetensors"}: updates are accepted
    POST {base_url}/sparring/weights   body: safetensors bytes of named tensors of the model's
                                       state dict (transformers names; tensors that share storage,
                                       e.g. tied embeddings, are sent once); header
                                       X-Sparring-Chunk: "i/n". The server loads them before it
                                       answers 200 {"loaded": <tensor count>}.

A full update is `n` POSTs of at most `weight_chunk_mb` each, sent between rollouts (nothing is
in flight). With `weight_sync: http` the engine serves the model it is given: it pushes its
weights when built (so a resumed run's first rollout is on-policy too) and after every update;
a server without the endpoint is refused when the engine is built. With `weight_sync: none` the
server keeps its own weights, the model handed to the factory is ignored, and `load_weights`
raises: the backend then serves frozen models only (evaluation, `sparring play`).

One server holds one set of weights, so two engines of this process that push weights to the
same server would silently serve each other's model (a frozen checkpoint opponent next to the
learner, a pool of past selves): such a push raises instead.

Uses only the standard library for HTTP (`urllib` in a thread pool), so it adds no dependency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sparring.agents.http_client import EndpointError, send
from sparring.types import Generation, SamplingParams

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 << 20  # a completion answer larger than this is refused as bad_response
RETRIED = frozenset({"timeout", "connection", "server_error", "bad_response"})  # "rejected" (4xx) is not


class OpenAIEngineOptions(BaseModel):
    """`engine.options` of the openai backend."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str
    """OpenAI-compatible API root, e.g. http://localhost:8000/v1 (requests go to {base_url}/completions)."""
    model: str
    """Model name sent with every request: the name the server serves (vLLM: --served-model-name,
    else the path it was started with)."""
    api_key_env: str | None = None
    """Environment variable holding a bearer API key, for servers started with one (vLLM: --api-key);
    null: send no key."""
    timeout_s: float = Field(120.0, gt=0)
    """Longest wait for the server on one socket operation of a request; past it the attempt counts
    as a timeout. Set it above the slowest full completion the server takes under load."""
    max_concurrency: int = Field(64, ge=1)
    """Most requests in flight at once (the server batches them). Raise it to the number of
    concurrent episodes' turns to keep a large server busy; lower it for a small or shared one."""
    retries: int = Field(2, ge=0)
    """Further attempts after a failed one (timeout, connection, HTTP 5xx/429, invalid answer);
    HTTP 4xx other than 429 is not retried. After the last, the turn is invalid."""
    retry_backoff_s: float = Field(0.5, ge=0)
    """Wait before the first retry, doubled for each further one."""
    weight_sync: Literal["http", "none"] = "http"
    """http: the server serves the learner — its weights are pushed to {base_url}/sparring/weights
    when the engine is built and after every update (the server must offer that endpoint; see
    docs/engines.md). none: the server keeps its own weights, for frozen use only (evaluation,
    play); training then fails at the first weight update."""
    weight_chunk_mb: float = Field(256.0, gt=0)
    """Largest body of one weight-update POST, in MiB (a full update is several)."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class MissingFieldError(RuntimeError):
    """The server answers completions without token ids or log-probs: it cannot serve training."""


@dataclass
class OpenAIEngineStats:
    requests: int = 0  # generate calls
    attempts: int = 0  # HTTP requests sent for them, retries included
    failed: int = 0  # calls that gave up after every retry (invalid turns)
    errors: Counter = field(default_factory=Counter)  # failure kind -> attempts that failed so
    generated_tokens: int = 0
    busy_s: float = 0.0  # summed request latency (overlapping requests each count)
    weight_syncs: int = 0
    weight_sync_s: float = 0.0


# base_url -> the engines of this process that push weights to it (one server holds one model)
_PUSHERS: dict[str, weakref.WeakSet] = {}


class OpenAIEngine:
    """Generations from an OpenAI-compatible completions server, with token ids and log-probs.

    `tokenizer` must be the server's: prompts go out as its token ids, texts are decoded with it
    and `eos_id`/`stop_tokens` end a turn as they do in the HF engine."""

    def __init__(self, model, tokenizer, options: OpenAIEngineOptions, stop_tokens: list[str] = ()) -> None:
        from sparring.agents.hf_engine import _token_id

        self.options = options
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.stop_ids = [self.eos_id] + [_token_id(tokenizer, t) for t in stop_tokens]
        vocab = getattr(getattr(model, "config", None), "vocab_size", None) or 0
        self.vocab_size = max(vocab, len(tokenizer))
        self.url = options.base_url + "/completions"
        self.weights_url = options.base_url + "/sparring/weights"
        self.api_key = None
        if options.api_key_env:
            self.api_key = os.environ.get(options.api_key_env)
            if not self.api_key:
                raise ValueError(f"engine.options.api_key_env: environment variable {options.api_key_env} is not set; "
                                 "set it, or set api_key_env to null for a server without a key")
        self.stats = OpenAIEngineStats()
        self._lock = threading.Lock()  # stats are updated from the pool's threads
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._proven = False  # some answer carried token ids and log-probs: the server can train
        self._warned: set[str] = set()
        self._check_server()
        if options.weight_sync == "http":
            self._check_weight_endpoint()
            self.load_weights(model)

    # ----- generation -------------------------------------------------------------------------
    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        """One completion; concurrent calls go out concurrently (at most `max_concurrency`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), self._complete, list(prompt_ids), sampling)

    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        """All prompts at once, through the same pool; order-preserving."""
        return list(self._executor().map(lambda p: self._complete(list(p), sampling), prompts))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.options.max_concurrency, thread_name_prefix="openai-engine")
        return self._pool

    def _complete(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        """Up to 1 + `retries` attempts (in a pool thread); an error Generation when all fail."""
        body = json.dumps(self._request_body(prompt_ids, sampling)).encode()
        with self._lock:
            self.stats.requests += 1
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(self.options.retry_backoff_s * 2 ** (attempt - 1))
            t0 = time.perf_counter()
            try:
                gen = self._parse(self._http("POST", self.url, body), prompt_ids, sampling)
            except EndpointError as e:
                self._count_error(e, time.perf_counter() - t0)
                if e.kind not in RETRIED:
                    break
            else:
                with self._lock:
                    self.stats.attempts += 1
                    self.stats.busy_s += time.perf_counter() - t0
                    self.stats.generated_tokens += len(gen.completion_ids)
                return gen
        with self._lock:
            self.stats.failed += 1
        return Generation(prompt_ids=prompt_ids, completion_ids=[], logprobs=[], text="", finish_reason="error")

    def _request_body(self, prompt_ids: list[int], sampling: SamplingParams) -> dict:
        return {
            "model": self.options.model,
            "prompt": prompt_ids,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            # neutral settings: vLLM would otherwise take them from the model's generation_config
            # (Qwen3 ships top_k=20) and sample from a distribution other than the one it reports
            "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
            "logprobs": 1,  # the sampled token's log-prob (plus its top-1 alternative)
            "return_token_ids": True,  # vLLM: choices[0].token_ids
            "return_tokens_as_token_ids": True,  # vLLM: logprobs.tokens as "token_id:123"
            "stop_token_ids": self.stop_ids,  # vLLM: also end at engine.stop_tokens
        }

    def _parse(self, raw: bytes, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        """A checked Generation from a completions answer; EndpointError("bad_response") otherwise."""
        try:
            choice = json.loads(raw)["choices"][0]
            reason = choice["finish_reason"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise EndpointError("bad_response", f"not a completion: {raw[:200]!r}") from None
        if reason not in ("stop", "length"):
            raise EndpointError("bad_response", f"finish_reason {reason!r} is neither 'stop' nor 'length'")
        lp = choice.get("logprobs")
        values = lp.get("token_logprobs") if isinstance(lp, dict) else None
        ids = choice.get("token_ids")
        if ids is None and isinstance(lp, dict):
            ids = _ids_from_tokens(lp.get("tokens"))
        if values is None or ids is None:
            missing = "choices[0].logprobs.token_logprobs" if values is None else \
                "choices[0].token_ids (or logprobs.tokens spelt 'token_id:<id>')"
            if not self._proven:
                raise MissingFieldError(
                    f"engine.backend openai: the server at {self.options.base_url} answered a completion without "
                    f"{missing}. Training needs the sampled token ids and their log-probs; this server cannot give "
                    "them (vLLM's OpenAI server does: it reads return_token_ids/return_tokens_as_token_ids and "
                    "logprobs). For a frozen opponent behind a chat API use opponent kind 'openai' instead.")
            raise EndpointError("bad_response", f"answer without {missing}")
        ids, values = self._checked(ids, values, sampling)
        self._proven = True
        stop = next((k for k, t in enumerate(ids) if t in self.stop_ids), None)
        if stop is not None:  # the turn ends at the first end-of-turn token, as in the HF engine
            ids, values, reason = ids[:stop + 1], values[:stop + 1], "stop"
        return Generation(prompt_ids=prompt_ids, completion_ids=ids, logprobs=values,
                          text=self.tokenizer.decode(ids, skip_special_tokens=True), finish_reason=reason)

    def _checked(self, ids, values, sampling: SamplingParams) -> tuple[list[int], list[float]]:
        """Token ids in the vocabulary and finite log-probs <= 0, one per token, within the cap."""
        if not isinstance(ids, list) or not isinstance(values, list):
            raise EndpointError("bad_response", "token ids and log-probs must be lists")
        if len(ids) != len(values):
            raise EndpointError("bad_response", f"{len(ids)} token ids but {len(values)} log-probs")
        if len(ids) > sampling.max_new_tokens:
            raise EndpointError("bad_response", f"{len(ids)} tokens for max_tokens={sampling.max_new_tokens}")
        if not all(type(t) is int and 0 <= t < self.vocab_size for t in ids):
            raise EndpointError("bad_response", f"token ids outside the vocabulary of {self.vocab_size}: {ids[:8]}")
        if not all(isinstance(v, float) or (type(v) is int and abs(v) < 2 ** 53) for v in values) or \
                not all(math.isfinite(v) and v <= 1e-3 for v in values):
            raise EndpointError("bad_response", f"log-probs must be finite and <= 0: {values[:8]}")
        return ids, [min(float(v), 0.0) for v in values]

    def _count_error(self, e: EndpointError, seconds: float = 0.0) -> None:
        with self._lock:
            self.stats.attempts += 1
            self.stats.busy_s += seconds
            self.stats.errors[e.kind] += 1
            first = e.kind not in self._warned
            self._warned.add(e.kind)
        if first:  # later failures of the same kind are only counted (engine/errors/<kind>)
            log.warning("openai engine %s: %s (%s; counted in engine/errors/%s from now on)", self.url, e, e.kind,
                        e.kind)

    def metrics(self) -> dict[str, float]:
        """Cumulative counters under engine/, for the trainer's metrics."""
        s = self.stats
        out = {"engine/requests": float(s.requests), "engine/attempts": float(s.attempts),
               "engine/failed_requests": float(s.failed), "engine/weight_syncs": float(s.weight_syncs)}
        out.update({f"engine/errors/{kind}": float(n) for kind, n in sorted(s.errors.items())})
        return out

    # ----- HTTP -------------------------------------------------------------------------------
    def _http(self, method: str, url: str, body: bytes | None = None, content_type: str = "application/json",
              limit: int = MAX_RESPONSE_BYTES, headers: dict[str, str] | None = None) -> bytes:
        """The body of a 2xx answer; EndpointError for every other outcome."""
        try:
            return send(url, timeout_s=self.options.timeout_s, body=body, method=method, api_key=self.api_key,
                        headers={"Content-Type": content_type, **(headers or {})}, limit=limit)
        except EndpointError as e:
            if e.kind == "http":  # retried if the server may recover, not if it refused the request
                e.kind = "server_error" if e.status >= 500 or e.status == 429 else "rejected"
            raise

    def _check_server(self) -> None:
        """Fail at start, naming the option, when no server answers or it does not serve `model`."""
        try:
            raw = self._http("GET", self.options.base_url + "/models", limit=1 << 20)
        except EndpointError as e:
            if e.status == 404:  # a server without the model list: nothing to check
                return
            raise ValueError(f"engine.options.base_url: the server at {self.options.base_url} does not answer "
                             f"GET /models ({e})") from None
        try:
            served = [m["id"] for m in json.loads(raw)["data"]]
        except (ValueError, KeyError, TypeError):
            return  # not the usual list: the first completion will tell
        if self.options.model not in served:
            raise ValueError(f"engine.options.model: the server at {self.options.base_url} serves {served}, "
                             f"not {self.options.model!r}")

    # ----- weights ----------------------------------------------------------------------------
    def _check_weight_endpoint(self) -> None:
        try:
            info = json.loads(self._http("GET", self.weights_url, limit=1 << 16))
        except (EndpointError, ValueError) as e:
            raise RuntimeError(
                f"engine.options.weight_sync is 'http' but the server at {self.options.base_url} has no weight-update "
                f"endpoint (GET {self.weights_url}: {e}). Such a server only serves frozen models: set "
                "weight_sync: none for evaluation or play, or serve the learner from a server that implements the "
                "/sparring/weights protocol (docs/engines.md).") from None
        if not isinstance(info, dict) or info.get("format") != "safetensors":
            raise RuntimeError(f"engine.options.weight_sync: {self.weights_url} answers {info!r}, "
                               "not {'format': 'safetensors'}")
        others = _PUSHERS.setdefault(self.options.base_url, weakref.WeakSet())
        if any(e is not self and not e._closed for e in others):
            raise RuntimeError(
                f"engine.options.base_url: another engine of this run already pushes weights to "
                f"{self.options.base_url}; one server holds one model, so frozen opponents (checkpoint, pool) "
                "cannot share the learner's server: use opponents that need no engine of their own, or a second "
                "server.")
        others.add(self)

    def load_weights(self, model) -> None:
        """Push `model`'s weights to the server (weight_sync: http), in safetensors chunks."""
        if self.options.weight_sync == "none":
            raise RuntimeError(
                f"engine.options.weight_sync is 'none': the server at {self.options.base_url} keeps its own weights, "
                "so the openai backend serves frozen models only (evaluation, play), never the learner. Set "
                "weight_sync: http with a server that has the /sparring/weights endpoint (docs/engines.md).")
        from safetensors.torch import save

        from sparring.agents.vllm_engine import hf_weights

        t0 = time.perf_counter()
        shared = {p.untyped_storage().data_ptr() for p in model.parameters()}  # tied weights live here
        chunks = _chunks(hf_weights(model), int(self.options.weight_chunk_mb * (1 << 20)), shared)
        for i, chunk in enumerate(chunks):
            data = save(chunk)
            answer = self._push(data, f"{i + 1}/{len(chunks)}")
            if not isinstance(answer, dict) or answer.get("loaded") != len(chunk):
                raise RuntimeError(f"engine weight sync: {self.weights_url} loaded {answer!r} of a chunk of "
                                   f"{len(chunk)} tensors; the server's weights are now unknown")
        self.stats.weight_syncs += 1
        self.stats.weight_sync_s += time.perf_counter() - t0

    def _push(self, data: bytes, chunk: str):
        """POST one chunk, retried like a completion. A sync that cannot finish stops the run: the
        server would otherwise go on sampling from stale or half-updated weights."""
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(self.options.retry_backoff_s * 2 ** (attempt - 1))
            try:
                raw = self._http("POST", self.weights_url, data, "application/octet-stream", 1 << 20,
                                 headers={"X-Sparring-Chunk": chunk})
                break
            except EndpointError as e:
                self._count_error(e)
                if e.kind not in RETRIED or attempt == self.options.retries:
                    raise RuntimeError(f"engine weight sync: POST {self.weights_url} (chunk {chunk}) failed: {e}") \
                        from None
        try:
            return json.loads(raw)
        except ValueError:
            raise RuntimeError(f"engine weight sync: {self.weights_url} answered {raw[:200]!r}, not JSON") from None

    def pause(self) -> None:
        """Nothing to release: the server's memory is its own."""

    async def aclose(self) -> None:
        self._closed = True  # no longer holds its server's weights
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _ids_from_tokens(tokens) -> list[int] | None:
    """Token ids from vLLM's `return_tokens_as_token_ids` spelling "token_id:123"; None if not so spelt."""
    if not isinstance(tokens, list):
        return None
    ids = []
    for t in tokens:
        if not (isinstance(t, str) and t.startswith("token_id:") and 0 < len(t) - 9 <= 12
                and t[9:].isascii() and t[9:].isdigit()):
            return None
        ids.append(int(t[9:]))
    return ids


def _chunks(weights, limit: int, shared: set[int] = frozenset()) -> list[dict]:
    """(name, tensor) pairs as CPU tensors in chunks of at most `limit` bytes (a larger tensor alone),
    each moved to the CPU as it comes (a LoRA model's weights are folded one at a time). Tensors on
    the same storage among `shared` (the model's parameters: tied embeddings) are sent once, under
    their first name; fresh tensors are never compared, as a freed one's address can be reused."""
    seen: set[tuple[int, int]] = set()
    chunks: list[dict] = [{}]
    size = 0
    for name, tensor in weights:
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key[0] in shared:
            if key in seen:
                continue
            seen.add(key)
        nbytes = tensor.numel() * tensor.element_size()
        if chunks[-1] and size + nbytes > limit:
            chunks.append({})
            size = 0
        chunks[-1][name] = tensor.detach().to("cpu").contiguous()
        size += nbytes
    return [c for c in chunks if c]
