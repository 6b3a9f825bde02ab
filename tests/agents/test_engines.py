"""The engine registry: `engine.backend` picks a registered factory; options are the backend's own."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from sparring.agents.engines import engine_backends, make_engine, register_engine
from sparring.agents.hf_engine import HFEngine
from sparring.config import ConfigError, EngineConfig, load_config


class BatchOptions(BaseModel):
    batch: int = 2


built = []


@register_engine("test_small_batches", options=BatchOptions)
def small_batches(model, tokenizer, cfg):
    engine = HFEngine(model, tokenizer, max_batch_size=BatchOptions(**cfg.options).batch)
    built.append(engine)
    return engine


def test_hf_is_the_default_and_a_registered_backend_is_selected_by_config(tiny_model, tokenizer):
    assert "hf" in engine_backends()
    assert isinstance(make_engine(None, tiny_model, tokenizer), HFEngine)
    engine = make_engine(EngineConfig(backend="test_small_batches", options={"batch": 3}), tiny_model, tokenizer)
    assert built[-1] is engine and engine.max_batch_size == 3
    assert engine.pad_id is not None and engine.eos_id is not None  # the protocol the trainer uses


def test_unknown_backends_and_bad_options_are_named():
    with pytest.raises(ConfigError, match=r"engine\.backend.*unknown engine backend 'sglang'.*imports"):
        load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker"}], "engine": {"backend": "sglang"}})
    with pytest.raises(ConfigError, match="batch"):
        load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker"}],
                          "engine": {"backend": "test_small_batches", "options": {"batch": "many"}}})
    with pytest.raises(ConfigError, match="takes no options"):
        load_config(data={"arenas": [{"name": "k", "game": "kuhn_poker"}], "engine": {"options": {"x": 1}}})


def test_a_duplicate_backend_names_both_places_and_a_reimport_is_allowed():
    with pytest.raises(ValueError, match=r"engine backend 'hf' is already registered by .*_hf_engine .*engines\.py:\d+"):
        register_engine("hf")(lambda model, tokenizer, cfg: None)
    register_engine("test_small_batches", options=BatchOptions)(small_batches)  # the same definition again
