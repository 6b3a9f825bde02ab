"""Which KV caches may be copied row by row.

The engine's shared prefill and the learner's shared-prompt log-probs run each distinct prompt once
and copy its cache to every row that holds it. That is only right for plain per-layer key/value
tensors: quantized layers keep packed state, and hybrid (linear-attention) or recurrent layers keep
states that other fields of the layer also describe. Both paths ask here and fall back to running
every row when the answer is None.
"""

from __future__ import annotations

from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

PLAIN_KV_LAYERS = (DynamicLayer, DynamicSlidingWindowLayer)


def plain_kv_layers(cache) -> list | None:
    """The cache's layers when every one is exactly a plain K/V layer (subclasses add state), else None."""
    layers = cache.layers if isinstance(cache, DynamicCache) else None
    if not layers or not all(type(layer) in PLAIN_KV_LAYERS for layer in layers):
        return None
    return layers
