"""`engine.options` of the vllm backend, apart from the engine so that validating a config never
imports vLLM (nor sparring.config, which builds a default engine config while it is imported)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VLLMOptions(BaseModel):
    """`engine.options` of the vllm backend."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    gpu_memory_utilization: float = Field(0.3, gt=0.0, le=1.0)
    """Share of GPU memory vLLM may take for weights and KV cache (the learner needs the rest:
    weights, float32 masters, AdamW state, activations). On CPU it sizes the KV cache from RAM."""
    max_model_len: int | None = Field(None, ge=16)
    """Longest prompt + completion vLLM schedules (KV cache is reserved for at least one); null:
    the model's own limit (max_position_embeddings). Lower it to fit a long-context model's cache."""
    enforce_eager: bool = True
    """No CUDA graphs / torch.compile: start-up in seconds instead of ~20 s more (CPU); turn off for
    long runs where decode speed matters most (measured on 2 CPU cores: 1.36x HF's tokens/s
    compiled against 1.22x eager, benchmarks/engine_throughput.py). Weight sync works either way
    (weights are updated in place)."""
    sleep: bool = False
    """GPU only: release vLLM's GPU memory during each learner update and wake it after the
    weight sync (vLLM sleep mode), when engine and learner do not both fit on one GPU."""
