"""Checkpoints that resume exactly: model (HF format), optimiser, estimator state, RNGs, step.

Each checkpoint is written to a temporary directory and renamed into place, so a kill at any
moment leaves either the previous complete checkpoint or the new one, never a torn one.
`latest(run_dir)` finds the newest complete checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "trainer_state.json"
OPTIM_FILE = "optimizer.pt"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def rng_state() -> dict:
    """Every generator a run draws from; on a GPU the CUDA generators too (sampling on the device)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: str | Path, step: int, model, tokenizer, learner_state: dict, trainer_state: dict, keep: int = 2) -> Path:
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save({"learner": learner_state, "rng": rng_state()}, tmp / OPTIM_FILE)
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, **trainer_state}, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in sorted(root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(run_dir: str | Path) -> Path | None:
    root = checkpoint_dir(run_dir)
    done = [p for p in sorted(root.glob("step_*")) if (p / STATE_FILE).exists()]
    return done[-1] if done else None


def load_state(path: Path) -> tuple[dict, dict]:
    """(trainer_state from JSON, {'learner':..., 'rng':...} from torch)."""
    trainer_state = json.loads((path / STATE_FILE).read_text())
    blob = torch.load(path / OPTIM_FILE, weights_only=False, map_location="cpu")  # any device resumes
    return trainer_state, blob
