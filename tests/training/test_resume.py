"""Checkpoint/resume through the real CLI: kill -9 mid-run and continue; resumed runs are exact.

One small config (tiny model of width 64, 16 Kuhn Poker episodes per step against the random
opponent, so that the sampling RNG, the opponent's RNG, the optimiser and the RAE baselines all
shape the weights). A step takes ~0.1 s here, so the run is STEPS long to leave the poller time
to kill it in the middle; every checkpoint is kept so runs can be compared step by step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from sparring.training import checkpoint
from sparring.training.metrics import read_metrics

STEPS = 24


def write_config(path: Path, run_dir: Path, steps: int = STEPS) -> Path:
    cfg = {
        "run": {"name": run_dir.name, "output_dir": str(run_dir), "seed": 3, "steps": steps},
        "model": {"name": "tiny", "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2,
                                            "num_kv_heads": 1, "intermediate_size": 128}},
        "sampling": {"max_new_tokens": 4, "temperature": 1.0},
        "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 16, "opponent": {"kind": "random"}}],
        "warm_start": {"enabled": False},
        "optim": {"learning_rate": 1e-3, "micro_batch_size": 8},
        "advantages": {"estimator": "rae", "rae_alpha": 0.5},
        "eval": {"every": 0},
        "checkpoint": {"every": 1, "keep": 100},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def train_cmd(cfg: Path, *sets: str) -> list[str]:
    cmd = [sys.executable, "-m", "sparring.cli", "train", str(cfg), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def train(cfg: Path, env: dict, *sets: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(train_cmd(cfg, *sets), env=env, cwd=cfg.parent, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def ckpt(run_dir: Path, step: int) -> Path:
    path = checkpoint.checkpoint_dir(run_dir) / f"step_{step:07d}"
    assert (path / checkpoint.STATE_FILE).exists(), f"no complete checkpoint {path}"
    return path


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{a} and {b} differ in {differ}"


def steps_of(run_dir: Path) -> list[int]:
    return sorted(int(p.name.split("_")[1]) for p in checkpoint.checkpoint_dir(run_dir).glob("step_*"))


def baselines(path: Path) -> dict:
    state = json.loads((path / checkpoint.STATE_FILE).read_text())
    return {tuple(k) if isinstance(k, list) else k: v for k, v in state["advantages"]["estimators"]["rae"]["baselines"]}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_path, subprocess_env) -> Path:
    """One run of STEPS steps without interruption: the reference for the resumed runs."""
    root = tmp_path_factory.mktemp("uninterrupted")
    run_dir = root / "run"
    train(write_config(root / "cfg.yaml", run_dir), subprocess_env)
    assert steps_of(run_dir) == list(range(1, STEPS + 1))
    # the runs are not trivial: weights move every step and the baselines are learnt
    assert not torch.equal(weights(ckpt(run_dir, 1))["model.norm.weight"], weights(ckpt(run_dir, STEPS))["model.norm.weight"])
    assert len(baselines(ckpt(run_dir, STEPS))) == 2  # (kuhn, p0) and (kuhn, p1)
    return run_dir


def test_kill_9_then_resume(tmp_path, subprocess_env, uninterrupted):
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "cfg.yaml", run_dir)
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(train_cmd(cfg), env=subprocess_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            latest = checkpoint.latest(run_dir)
            if latest is not None and int(latest.name.split("_")[1]) >= 2:
                break
            assert proc.poll() is None, f"training exited early: {(tmp_path / 'killed.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = checkpoint.latest(run_dir)
    k = int(killed_at.name.split("_")[1])
    assert 2 <= k < STEPS, f"the kill must land mid-run (latest checkpoint {k})"
    # every checkpointed step was logged first (a step logged after the latest checkpoint goes on resume)
    assert {r["step"] for r in read_metrics(run_dir / "metrics.jsonl")} >= set(range(1, k + 1))

    # the checkpoint the kill left is intact and equals the uninterrupted run at that step
    assert_same_weights(killed_at, ckpt(uninterrupted, k))
    saved = baselines(killed_at)
    assert saved and saved == baselines(ckpt(uninterrupted, k))
    assert any(v != 0.0 for v in saved.values())

    # a Trainer built on the run dir resumes from it: step, RAE baselines, optimiser, scheduler
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    trainer = Trainer(load_config(cfg), show_progress=False)
    try:
        assert trainer.step == k
        assert trainer.assigner.rae.baselines == saved
        assert trainer.assigner.rae.alpha == 0.5
        opt_state = trainer.learner.optimizer.state_dict()["state"]
        assert opt_state and all(int(s["step"]) == k for s in opt_state.values())
        assert trainer.learner.scheduler.last_epoch == k
        w = weights(killed_at)
        for name, p in trainer.learner.model.state_dict().items():
            if name in w:
                assert torch.equal(p, w[name]), name
    finally:
        trainer.close()

    # run the same command again: it continues from step k + 1 to the end
    proc2 = train(cfg, subprocess_env)
    assert f"steps={STEPS}" in proc2.stdout
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == list(range(1, STEPS + 1))
    assert checkpoint.latest(run_dir).name == f"step_{STEPS:07d}"
    assert steps_of(run_dir) == list(range(1, STEPS + 1))
    # the first checkpoint after the resume continued from the loaded baselines and weights:
    # it is exactly the uninterrupted run's, as is the final one
    assert baselines(ckpt(run_dir, k + 1)) == baselines(ckpt(uninterrupted, k + 1))
    assert_same_weights(ckpt(run_dir, k + 1), ckpt(uninterrupted, k + 1))
    assert_same_weights(ckpt(run_dir, STEPS), ckpt(uninterrupted, STEPS))
    assert baselines(ckpt(run_dir, STEPS)) == baselines(ckpt(uninterrupted, STEPS))


def test_exact_resume_short_then_continued(tmp_path, subprocess_env, uninterrupted):
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "cfg.yaml", run_dir)
    first = train(cfg, subprocess_env, "run.steps=2")
    assert "steps=2" in first.stdout
    assert steps_of(run_dir) == [1, 2]
    assert_same_weights(ckpt(run_dir, 2), ckpt(uninterrupted, 2))
    train(cfg, subprocess_env, "run.steps=4")
    assert steps_of(run_dir) == [1, 2, 3, 4]
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2, 3, 4]
    # 2 steps, then continued to 4 == 4 steps of the same config without interruption
    assert_same_weights(ckpt(run_dir, 4), ckpt(uninterrupted, 4))
    assert baselines(ckpt(run_dir, 4)) == baselines(ckpt(uninterrupted, 4))


def test_a_resume_cuts_the_logs_back_to_its_checkpoint(tmp_path, subprocess_env, uninterrupted):
    """A run killed after logging steps 3-4 (and tearing a line) but before checkpointing them
    resumes from step 2 and writes steps 3-4 again: the logs then hold every step once, as the
    uninterrupted run's do, and the run ends where the uninterrupted one does."""
    import shutil

    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "cfg.yaml", run_dir, steps=4)
    train(cfg, subprocess_env, "checkpoint.every=2")
    shutil.rmtree(ckpt(run_dir, 4))  # the kill came after step 4 was logged, before its checkpoint
    for name in ("metrics.jsonl", "samples.jsonl"):
        with (run_dir / name).open("a") as f:
            f.write('{"step": 4, "ti')  # torn by the kill
    train(cfg, subprocess_env, "checkpoint.every=2")
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2, 3, 4]
    samples = [json.loads(line)["step"] for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    whole = [json.loads(line)["step"] for line in (uninterrupted / "samples.jsonl").read_text().splitlines()]
    assert samples == [s for s in whole if s <= 4]
    assert_same_weights(ckpt(run_dir, 4), ckpt(uninterrupted, 4))


def test_a_checkpoint_from_before_the_arena_api_restores_the_opponent(tmp_path, subprocess_env):
    """Older checkpoints kept an arena's opponent under components['opponent/<name>']; a resume
    still restores it (here the random opponent's RNG) into the arena."""
    from sparring.config import load_config
    from sparring.training.trainer import Trainer

    run_dir = tmp_path / "old_format"
    cfg = write_config(tmp_path / "old.yaml", run_dir, steps=1)
    train(cfg, subprocess_env)
    path = ckpt(run_dir, 1)
    blob = torch.load(path / checkpoint.OPTIM_FILE, weights_only=False)
    components = blob["learner"]["components"]
    state = components.pop("arena/kuhn")["opponent"]
    components["opponent/kuhn"] = state
    torch.save(blob, path / checkpoint.OPTIM_FILE)
    trainer = Trainer(load_config(cfg), show_progress=False)
    try:
        assert trainer.arenas[0].opponent.rng.getstate() == state["rng"]
    finally:
        trainer.close()


@pytest.mark.parametrize("sets, split, steps, fresh", [
    (["loss.kl_coef=0.5"], 2, 4, [1]),  # the reference is the starting model, also after a resume
    (["loss.kl_coef=0.5", "loss.ref_update_every=2"], 3, 5, [1, 3, 5]),  # moved at 2 and 4: restored from the checkpoint
    # the reloaded reference checkpoints as the fresh run's copy of the policy does (its log-prob path)
    (["loss.kl_coef=0.5", "model.gradient_checkpointing=true"], 2, 4, [1]),
], ids=["fixed_reference", "moved_reference", "checkpointed_reference"])
def test_resume_restores_the_kl_reference(tmp_path, subprocess_env, sets, split, steps, fresh):
    """A resumed run computes its KL against the same reference as an uninterrupted one: the
    starting weights (not the checkpoint's), or the reference last moved by loss.ref_update_every.
    `fresh`: the steps whose one update starts at the reference itself (KL exactly 0)."""
    whole = tmp_path / "whole"
    train(write_config(tmp_path / "whole.yaml", whole, steps=steps), subprocess_env, *sets)
    run_dir = tmp_path / "split"
    cfg = write_config(tmp_path / "split.yaml", run_dir, steps=steps)
    train(cfg, subprocess_env, *sets, f"run.steps={split}")
    train(cfg, subprocess_env, *sets)
    assert steps_of(run_dir) == list(range(1, steps + 1))
    assert_same_weights(ckpt(run_dir, steps), ckpt(whole, steps))
    for records in (read_metrics(whole / "metrics.jsonl"), read_metrics(run_dir / "metrics.jsonl")):
        assert [r["step"] for r in records if r["loss/kl"] == 0.0] == fresh


def test_checkpoints_keep_the_cuda_generators_where_there_is_a_gpu(monkeypatch):
    """On a GPU the engine samples from the CUDA generators: a checkpoint saves and restores them
    (here the CUDA calls are stand-ins; CPU runs save none)."""
    import torch.cuda

    assert "cuda" not in checkpoint.rng_state() or torch.cuda.is_available()
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.tensor([1], dtype=torch.uint8)] * 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    state = checkpoint.rng_state()
    assert len(state["cuda"]) == 2
    checkpoint.set_rng_state(state)
    assert restored == [state["cuda"]]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # resumed on fewer GPUs: left as seeded
    checkpoint.set_rng_state(state)
    assert len(restored) == 1


def test_a_run_directory_resumes_only_the_run_it_holds(tmp_path, subprocess_env):
    """Training another config into a run directory was resumed silently: the checkpoint trained
    on the new arenas and config.yaml overwritten. Another model or arena (kind, name) is now an
    error naming what differs; a changed arena setting resumes with a warning per key; settings
    such as steps and the learning rate resume as before."""
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "cfg.yaml", run_dir, steps=1)
    train(cfg, subprocess_env)
    other = yaml.safe_load(cfg.read_text())
    other["arenas"][0].update(name="ttt", game="tictactoe")
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    proc = subprocess.run(train_cmd(tmp_path / "other.yaml"), env=subprocess_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "holds another run" in proc.stderr and "('game', 'kuhn')" in proc.stderr and "'ttt'" in proc.stderr
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["arenas"][0]["game"] == "kuhn_poker"
    proc = train(cfg, subprocess_env, "run.steps=2", "optim.learning_rate=5e-4", "arenas.0.episodes_per_step=8")
    assert "arenas.0.episodes_per_step = 8 (the checkpoint's run had 16)" in proc.stderr
    assert steps_of(run_dir) == [1, 2]
