"""The inference-engine protocol: how agents ask a model for completions.

An engine takes token-id prompts and returns `Generation`s (completion ids, the per-token
log-probs of the sampled tokens under the sampling temperature, text). `generate` is async so
that many concurrent episodes can share one engine: a backend batches the requests it holds
(HF: an asyncio scheduler in front of `generate`; vLLM batches natively; an HTTP backend sends
concurrent requests). `load_weights(model)` receives the learner's model after each update.
Arenas, the trainer and the CLI only see this protocol (backends are chosen by `engine.backend`
through `sparring.agents.engines`), so backends swap without touching them. Subclassing
`batching_front.BatchingFront` gives a backend the async front and no-op `pause` / `metrics`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from sparring.types import Generation, SamplingParams


@runtime_checkable
class InferenceEngine(Protocol):
    tokenizer: Any
    pad_id: int  # token id the learner pads batches with
    eos_id: int  # end-of-turn token id

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        """One completion for one prompt; concurrent calls are batched by the backend."""
        ...

    def generate_batch(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        """Synchronous batched generation of many prompts at once (the raw engine)."""
        ...

    def pause(self) -> None:
        """Before each learner update (vLLM with `sleep` releases its GPU memory); may do nothing."""
        ...

    def load_weights(self, model: Any) -> None:
        """Take the learner's current weights (after each update)."""
        ...

    def metrics(self) -> dict[str, float]:
        """The backend's own figures for the step's metrics (e.g. weight-sync time, errors)."""
        ...

    async def aclose(self) -> None:
        ...
