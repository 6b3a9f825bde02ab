"""A policy behind any OpenAI-compatible chat endpoint (OpenAI, vLLM's server, llama.cpp, ...).

`OpenAIChatPolicy` POSTs the role's chat messages to `{base_url}/chat/completions` and reads the
action from the reply with the role's parser, like model output. It is an opponent or an
evaluation target, never trained (no token ids or log-probs come back).
Whatever goes wrong on the wire (timeout, refused connection, HTTP error status, a body that is
not the expected JSON) becomes an invalid turn whose text says why, counted in `errors`; it
never raises into the arena. Uses the standard library (`urllib` in a worker thread), so it
adds no dependency; concurrency is bounded by asyncio's default thread pool.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter

from sparring.agents.http_client import EndpointError, send
from sparring.agents.policies import _turn
from sparring.agents.roles import Role
from sparring.types import Turn


class OpenAIChatPolicy:
    trainable = False

    def __init__(self, base_url: str, model: str, api_key_env: str | None = "OPENAI_API_KEY",
                 temperature: float = 0.0, max_tokens: int = 64, timeout_s: float = 60.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint base_url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.api_key = None
        if api_key_env:
            self.api_key = os.environ.get(api_key_env)
            if not self.api_key:
                raise ValueError(f"endpoint {base_url}: environment variable {api_key_env} (the API key) is not set; "
                                 "set it, or set api_key_env to null for an endpoint without a key")
        self.errors: Counter[str] = Counter()  # failure kind -> count
        self.requests = 0

    @classmethod
    def from_config(cls, cfg) -> "OpenAIChatPolicy":
        """From an `EndpointConfig`."""
        return cls(cfg.base_url, cfg.model, cfg.api_key_env, cfg.temperature, cfg.max_tokens, cfg.timeout_s)

    def _post(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens}).encode()
        raw = send(self.url, timeout_s=self.timeout_s, body=body, api_key=self.api_key)
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError("bad_response", f"not a chat completion: {raw[:200]!r}") from None
        if not isinstance(content, str):
            raise EndpointError("bad_response", f"message content is {type(content).__name__}, not text")
        # JSON may carry lone surrogates ("\\ud800"), which no tokenizer encodes: the game would pass
        # them on in the learner's observation
        return content.encode("utf-8", "replace").decode("utf-8")

    async def act(self, role: Role, player: int, observation: str, legal, state=None) -> Turn:
        self.requests += 1
        try:
            text = await asyncio.to_thread(self._post, role.messages(observation))
        except EndpointError as e:
            self.errors[e.kind] += 1
            return Turn(role=role.name, player=player, prompt_ids=[], completion_ids=[], logprobs=[],
                        text=f"<endpoint error: {e}>", action=None, invalid=True, trainable=False)
        return _turn(role, player, text, legal, False)
