"""Random-init models with a real model's shape (no download), for benchmarks that need a real
vocabulary and layer width rather than the tiny model's."""

from __future__ import annotations

# Qwen3-0.6B's config.json (the fields that set compute and memory).
QWEN3_0_6B = dict(vocab_size=151_936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                  max_position_embeddings=40_960, rope_theta=1_000_000.0, rms_norm_eps=1e-6)


def random_qwen3(layers: int | None = None, seed: int = 0, **overrides):
    """A Qwen3ForCausalLM with Qwen3-0.6B's shape (optionally fewer layers), random weights."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    shape = dict(QWEN3_0_6B, **overrides)
    if layers is not None:
        shape["num_hidden_layers"] = layers
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(Qwen3Config(**shape, attn_implementation="sdpa"))
