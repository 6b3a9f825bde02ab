"""`sparring train` on an Absolute Zero arena: warm start, steps, checkpoints, resume, metrics, export.

A small tiny model (width 64) with the format warm start, 2 proposals per task type, one seeding
round (which the resumed run does not repeat), through the real CLI: 2 steps, then the same command
resumed to 3. Then a Trainer built on the run dir
resumes the arena's buffers from the checkpoint (an entry written into it comes back).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sparring.training import checkpoint
from sparring.training.metrics import read_metrics

pytestmark = pytest.mark.slow

ROLES = [f"{t}/{p}" for t in ("deduction", "abduction", "induction") for p in ("proposer", "solver")]


def write_config(root: Path) -> Path:
    cfg = {
        "run": {"name": "az", "output_dir": str(root / "run"), "seed": 1, "steps": 3},
        "model": {"name": "tiny", "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1,
                                           "intermediate_size": 128}},
        "arenas": [{"kind": "absolute_zero", "name": "az", "episodes_per_step": 2, "references": 1, "mc_samples": 2,
                    "induction_inputs": 2, "proposer_max_new_tokens": 24, "solver_max_new_tokens": 16,
                    "sandbox": {"workers": 2, "timeout_s": 0.5}, "seed": {"size": 2, "max_rounds": 1}}],
        "warm_start": {"enabled": True, "examples": 12, "epochs": 1, "batch_size": 6},
        "advantages": {"estimator": "trr_plus_plus"},
        "optim": {"learning_rate": 1e-3, "micro_batch_size": 8},
        "checkpoint": {"every": 1, "keep": 10},
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def train(cfg: Path, env: dict, *sets: str) -> str:
    cmd = [sys.executable, "-m", "sparring.cli", "train", str(cfg), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, env=env, cwd=cfg.parent, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_train_checkpoint_resume_and_metrics(tmp_path, subprocess_env):
    cfg = write_config(tmp_path)
    run = tmp_path / "run"
    assert "steps=2" in train(cfg, subprocess_env, "run.steps=2")
    assert (run / "warm_start" / "config.json").exists()
    first = read_metrics(run / "metrics.jsonl")
    assert first[0]["warm_start/examples"] == 12.0  # the format rows came from the arena
    assert first[0]["step"] == 0 and first[0]["az/seed/rounds"] == 1.0  # one seeding round before step 1
    out = train(cfg, subprocess_env)  # resumes at step 2 and runs step 3
    assert "steps=3" in out
    assert sum("az/seed/rounds" in r for r in read_metrics(run / "metrics.jsonl")) == 1  # resumed: no reseeding
    records = [r for r in read_metrics(run / "metrics.jsonl") if "perf/step_s" in r]
    assert [r["step"] for r in records] == [1, 2, 3]
    for r in records:
        for t in ("deduction", "abduction", "induction"):
            assert r[f"az/{t}/proposals"] == 2.0
            assert 0.0 <= r[f"az/{t}/valid_rate"] <= 1.0
            assert r[f"az/buffer/{t}"] >= 1.0
            assert sum(v for k, v in r.items() if k.startswith(f"az/{t}/reject/")) == 2.0 * (1 - r[f"az/{t}/valid_rate"])
        for role in ROLES:
            assert f"reward/az/{role}" in r
        for key in ("perf/az_generation_s", "perf/az_sandbox_s", "perf/rollout_s", "perf/update_s", "perf/step_s",
                    "az/learnability_mean", "az/program_chars_mean"):
            assert key in r, key
        assert r["rollout/episodes"] == 12.0 and r["rollout/samples"] == 12.0
        assert r["perf/az_generation_s"] <= r["perf/rollout_s"]
    assert sorted(int(p.name.split("_")[1]) for p in checkpoint.checkpoint_dir(run).glob("step_*")) == [1, 2, 3]

    # the buffers were exported and are in the checkpoint
    lines = [json.loads(x) for x in (run / "absolute_zero" / "az" / "buffers.jsonl").read_text().splitlines()]
    assert {x["task"] for x in lines} == {"deduction", "abduction", "induction"}
    _, blob = checkpoint.load_state(checkpoint.latest(run))
    saved = blob["learner"]["components"]["arena/az"]["buffers"]
    assert sum(len(b["entries"]) for b in saved.values()) == len(lines)

    # a Trainer on the run dir resumes the buffers from the newest checkpoint (given an entry there)
    import torch

    from sparring.config import load_config
    from sparring.environments.absolute_zero.buffers import Entry
    from sparring.training.trainer import Trainer

    added = Entry("deduction", "def f(a):\n    return a - 1", ("5",), ("4",), step=3)
    saved["deduction"]["entries"].append(added.state())
    torch.save(blob, checkpoint.latest(run) / checkpoint.OPTIM_FILE)
    trainer = Trainer(load_config(cfg), show_progress=False)
    try:
        arena = trainer.arenas[0]
        assert trainer.step == 3 and arena.buffers.state_dict() == saved
        assert arena.buffers["deduction"].entries[-1] == added
    finally:
        trainer.close()
