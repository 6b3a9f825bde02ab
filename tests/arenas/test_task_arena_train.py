"""The task-arena presets train end to end on the tiny model (scaled down), from config alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.config import load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset, keys", [
    ("rise_tiny.yaml", ["reward/arith/verifier", "reward/arith/solver", "verify/arith/accuracy",
                        "verify/arith/balanced_accuracy", "tasks/arith/solve_rate"]),
    ("mae_tiny.yaml", ["reward/mae/proposer", "tasks/mae/proposal_valid_rate"]),
])
def test_task_preset_trains_two_steps(preset, keys, tiny_path, tmp_path):
    from sparring.training.trainer import Trainer

    cfg = load_config(REPO / "configs" / preset, [
        f"model.name={tiny_path}", f"run.output_dir={tmp_path / 'run'}", "run.steps=2", "arenas.0.episodes_per_step=6",
        "warm_start.examples=48", "warm_start.epochs=1", "eval.at_start=true", "eval.every=2", "eval.episodes=12",
        "checkpoint.every=1"])
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.train()
    finally:
        trainer.close()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    seen = set().union(*records)
    assert set(keys) <= seen, sorted(set(keys) - seen)
    if preset == "rise_tiny.yaml":
        evals = [r for r in records if "eval/arith/verify/accuracy" in r]
        assert len(evals) == 2  # at the start and after the last step, on held-out problems
        assert all(0.0 <= r["eval/arith/verify/accuracy"] <= 1.0 for r in evals)
