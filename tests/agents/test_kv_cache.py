"""The one rule for copying a KV cache row by row, used by the engine's shared prefill and the
learner's shared-prompt log-probs: plain K/V layers only; anything else takes the plain path."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from sparring.agents import kv_cache
from sparring.agents.hf_engine import HFEngine
from sparring.agents.kv_cache import plain_kv_layers


@pytest.fixture
def engine(tiny_model, tokenizer):
    return HFEngine(tiny_model, tokenizer, max_batch_size=64)


class PackedLayer(DynamicLayer):
    """Stands for a layer type with more state than keys and values (quantized, linear attention)."""


def filled_cache(layers: int = 2) -> DynamicCache:
    cache = DynamicCache()
    for i in range(layers):
        cache.update(torch.zeros(1, 1, 3, 4), torch.zeros(1, 1, 3, 4), i)
    return cache


def test_only_caches_of_plain_kv_layers_are_copied():
    cache = filled_cache()
    assert plain_kv_layers(cache) is cache.layers
    cache.layers[1] = PackedLayer()  # a subclass has tensor keys too: the old learner check let it through
    assert plain_kv_layers(cache) is None
    assert plain_kv_layers(DynamicCache()) is None  # no layers
    assert plain_kv_layers((torch.zeros(1), torch.zeros(1))) is None  # not a cache object


def test_the_engine_and_the_learner_both_take_the_plain_path_for_other_caches(engine, tiny_model, kuhn_prompts,
                                                                              monkeypatch):
    from sparring.training.logprobs import shared_prompt_logprobs

    prompts = [kuhn_prompts[i % 2] for i in range(8)]
    width = max(map(len, prompts)) + 2
    ids = torch.zeros((8, width), dtype=torch.long)
    attn = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, :len(p) + 2] = torch.tensor(p + [5, 6])
        attn[i, :len(p) + 2] = 1
    lengths = torch.tensor([len(p) for p in prompts])
    left = torch.zeros((8, max(map(len, prompts))), dtype=torch.long)
    for i, p in enumerate(prompts):
        left[i, -len(p):] = torch.tensor(p)
    assert engine._shared_prompt_cache(prompts, left, (left > 0).long()) is not None
    assert shared_prompt_logprobs(tiny_model, ids, attn, lengths, 1.0) is not None
    monkeypatch.setattr(kv_cache, "PLAIN_KV_LAYERS", ())  # as if the model's layers were of another type
    assert engine._shared_prompt_cache(prompts, left, (left > 0).long()) is None
    assert shared_prompt_logprobs(tiny_model, ids, attn, lengths, 1.0) is None
