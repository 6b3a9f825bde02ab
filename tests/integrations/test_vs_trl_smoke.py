"""benchmarks/vs_trl.py runs end to end at toy size (`--smoke`) and ends in its result line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_vs_trl_smoke(subprocess_env, tiny_path):
    # tiny_path first builds the smoke model (the small spec) in the session cache the script reads.
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "vs_trl.py"), "--smoke"], env=subprocess_env,
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert re.fullmatch(r"sparring_over_trl_step_speed=\d+\.\d+", lines[-1]), lines[-5:]
    assert "same prompt tokens on both sides: True" in lines
    work = next(line for line in lines if line.startswith("work per timed step"))
    assert work.count("4 sequences") == 2  # 2 prompts x 2 completions on each side
