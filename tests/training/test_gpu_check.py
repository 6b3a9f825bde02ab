"""benchmarks/gpu_check.py: a clear exit without CUDA, and its plumbing on the CPU at a toy size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_gpu_check_says_there_is_no_gpu(subprocess_env):
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert proc.returncode == 2
    assert "no CUDA GPU is visible" in proc.stdout


def test_gpu_check_plumbing_runs_on_the_cpu(subprocess_env):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke"], capture_output=True, text=True,
                          env=subprocess_env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "generation_tokens_per_s=" in proc.stdout and "learner_tokens_per_s=" in proc.stdout
