"""The embedded tiny model: building it must not disturb the caller's random state."""

from __future__ import annotations

import torch

from sparring.agents.models import TinySpec, build_tiny


def test_building_the_tiny_model_leaves_the_global_rng_as_it_was(sparring_cache):
    spec = TinySpec(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=5)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    path = build_tiny(spec)  # built now (a fresh spec in the session cache)...
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(123)
    assert build_tiny(spec) == path  # ...and found in the cache: the same draws either way
    assert torch.equal(torch.rand(3), expected)
