"""A run directory's warm start is reused only when the config would make the same one."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from sparring.config import load_config
from sparring.training.trainer import WARM_START_RECIPE, Trainer


def config(run_dir, examples=32, seed=0):
    return load_config(data={
        "run": {"name": "ws", "output_dir": str(run_dir), "seed": seed, "steps": 1},
        "model": {"name": "tiny", "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1,
                                            "intermediate_size": 128}},
        "sampling": {"max_new_tokens": 4},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 4, "opponent": {"kind": "random"}}],
        "warm_start": {"enabled": True, "examples": examples, "epochs": 1, "batch_size": 8},
        "eval": {"every": 0},
    })


def build(cfg):
    trainer = Trainer(cfg, show_progress=False)
    trainer.close()
    return load_file(f"{cfg.run.output_dir}/warm_start/model.safetensors")


def test_the_same_settings_reuse_the_warm_start_and_other_settings_are_refused(tmp_path):
    first = build(config(tmp_path))
    assert (tmp_path / "warm_start" / WARM_START_RECIPE).exists()
    again = build(config(tmp_path))  # a resumed run: the same weights, not a second SFT
    assert all((first[k] == again[k]).all() for k in first)
    with pytest.raises(ValueError, match=r"warm_start\.examples: 32 there, 16 in the config"):
        Trainer(config(tmp_path, examples=16), show_progress=False)
    with pytest.raises(ValueError, match=r"run\.seed: 0 there, 1 in the config"):
        Trainer(config(tmp_path, seed=1), show_progress=False)


def test_a_warm_start_without_its_recipe_is_taken_as_it_is(tmp_path):
    first = build(config(tmp_path))
    (tmp_path / "warm_start" / WARM_START_RECIPE).unlink()  # copied in by hand
    again = build(config(tmp_path, examples=16))
    assert all((first[k] == again[k]).all() for k in first)
