"""Metric backends: a short real run mirrors every metrics.jsonl scalar into TensorBoard event
files (read back with TensorBoard's own reader) and writes an offline W&B run; a backend that
fails to open or to write is a warning, and the run goes on."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys

import pytest
import yaml

from sparring.training.metrics import MetricsLogger


def test_a_short_run_writes_tensorboard_scalars_equal_to_metrics_jsonl_and_an_offline_wandb_run(
        tmp_path, subprocess_env, small_spec_kw):
    run_dir = tmp_path / "run"
    cfg = {"run": {"output_dir": str(run_dir), "steps": 2, "name": "sinks"},
           "model": {"name": "tiny", "tiny": small_spec_kw}, "sampling": {"max_new_tokens": 4},
           "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": 8}],
           "eval": {"every": 2, "episodes": 10}, "metrics": {"backends": ["tensorboard", "wandb"]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(subprocess_env, WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    proc = subprocess.run([sys.executable, "-m", "sparring.cli", "train", str(path), "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "metrics backend" not in proc.stderr  # both opened and wrote

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    want = {(k, r["step"]): v for r in rows for k, v in r.items()
            if k not in ("step", "time") and isinstance(v, (int, float)) and math.isfinite(v)}
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    got = {(tag, e.step): e.value for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)}
    assert set(got) == set(want) and len(want) > 50
    assert all(got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-6) for k in want)  # float32 in the events
    assert any(k[0].startswith("eval/kuhn/vs_random/") for k in got)

    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


class Broken:
    name = "broken"

    def __init__(self):
        self.calls = 0

    def log(self, step, metrics):
        self.calls += 1
        raise OSError("disk full")

    def close(self):
        pass


def test_a_failing_backend_is_a_warning_and_is_switched_off(tmp_path, caplog):
    sink = Broken()
    with caplog.at_level(logging.WARNING), MetricsLogger(tmp_path / "m.jsonl", 3, False, [sink]) as metrics:
        for step in (1, 2, 3):
            metrics.log(step, {"loss/total": 0.5})
    assert sink.calls == 1 and "metrics backend broken failed (OSError: disk full)" in caplog.text
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3  # the run's record is whole


def test_a_backend_that_cannot_open_is_a_warning(tmp_path, caplog, monkeypatch):
    from sparring.config import MetricsConfig
    from sparring.training import metric_sinks

    def unavailable(*args):
        raise ModuleNotFoundError("No module named 'wandb'")

    monkeypatch.setitem(metric_sinks.SINKS, "wandb", unavailable)
    with caplog.at_level(logging.WARNING):
        sinks = metric_sinks.open_sinks(MetricsConfig(backends=["wandb"]), tmp_path, "x")
    assert sinks == [] and "metrics backend wandb is off: ModuleNotFoundError" in caplog.text


def test_a_resumed_run_replaces_its_re_run_steps_in_tensorboard_and_keeps_its_wandb_run(tmp_path, monkeypatch):
    """A run killed after logging steps 3-4 resumes from its step-2 checkpoint and logs 3-4 again:
    TensorBoard keeps one value per step (the new ones), and W&B goes on in the same run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sparring.config import MetricsConfig
    from sparring.training import metric_sinks

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    cfg, ids = MetricsConfig(backends=["tensorboard", "wandb"]), []
    for resume_step, steps, scale in ((0, (1, 2, 3, 4), 1.0), (2, (3, 4, 5), 10.0)):
        sinks = metric_sinks.open_sinks(cfg, tmp_path, "x", resume_step)
        assert [s.name for s in sinks] == ["tensorboard", "wandb"]
        for step in steps:
            for sink in sinks:
                sink.log(step, {"a": scale * step})
        ids.append(sinks[1].run.id)
        for sink in sinks:
            sink.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("a")] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0), (5, 50.0)]
    assert ids[0] == ids[1]
