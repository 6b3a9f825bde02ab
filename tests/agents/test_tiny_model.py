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


def test_split_digits_tokenizes_every_digit_alone_and_keeps_the_default_cache_key(sparring_cache):
    from dataclasses import asdict

    from sparring.agents.models import _cache_fields, load_tokenizer

    small = dict(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64)
    split = load_tokenizer(str(build_tiny(TinySpec(**small, split_digits=True))))
    pieces = split.tokenize("What is 12 + 7? 190")
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["1", "2", "7", "1", "9", "0"]
    merged = load_tokenizer(str(build_tiny(TinySpec(**small))))
    assert any(sum(c.isdigit() for c in p) > 1 for p in merged.tokenize("Pot 12, 190 and 45"))
    # the models built before the option existed keep their cache directory
    assert _cache_fields(TinySpec()) == {k: v for k, v in asdict(TinySpec()).items() if k != "split_digits"}
    assert "split_digits" in _cache_fields(TinySpec(split_digits=True))
