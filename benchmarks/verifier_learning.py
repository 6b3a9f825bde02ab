"""A verifier learned by reinforcement learning: accuracy on held-out problems before and after.

Runs `configs/rise_tiny.yaml`: the tiny local model, a format-only warm start (verdicts and
answers drawn independently of the truth), then RL in the task arena, the solver and the verifier
trained together (RISE), the verifier paid for agreeing with the checked truth, class-balanced.
Before and after RL the greedy verifier judges every held-out item: each problem of the
arithmetic generator's held-out split (never seen in training) once with its right answer and
once with a corrupted one (off by one or two, off by ten, swapped operands, wrong operation), so
the majority-class rate is exactly 0.5. Accuracies carry Wilson 95% intervals.

The last line is `verifier_accuracy_gain=X` (after minus before).

    python benchmarks/verifier_learning.py [--seed N] [--steps N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.agents.policies import EnginePolicy  # noqa: E402
from sparring.arenas.verification import Candidate, VerificationStage  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import load_config  # noqa: E402
from sparring.environments.problems.arithmetic import OPS, Arithmetic, corrupt  # noqa: E402
from sparring.environments.verification.stats import verdict_stats, wilson  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402


def heldout_items(source, seed: int) -> list[Candidate]:
    """Every held-out problem twice: with its right answer and with one corruption."""
    pool = Arithmetic(source.ops, source.max_operand, "heldout", source.heldout_fraction)
    rng = random.Random(seed)
    items = []
    for a, op, b in pool.space:
        question = f"What is {a} {op} {b}?"
        items.append(Candidate(question, str(OPS[op](a, b)), True, 0))
        items.append(Candidate(question, str(corrupt(a, op, b, rng)), False, 0))
    return items


def measure(trainer: Trainer, items: list[Candidate]) -> dict[str, float]:
    arena = trainer.arenas[0]
    policy = EnginePolicy(trainer.engine, trainable=False, temperature=0.0)
    stage = VerificationStage(arena.verify.cfg, policy, arena.verify.role, arena.name)
    asked = trainer.loop.run_until_complete(stage.ask(items))
    stats = verdict_stats([c.truth for c in items], [None if v is None else v.correct for _, v in asked])
    lo, hi = wilson(round(stats["accuracy"] * len(items)), len(items))
    return {**stats, "ci_low": lo, "ci_high": hi}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "rise_tiny.yaml"))
    p.add_argument("--steps", type=int, default=None, help="RL steps (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default: a temp dir)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides")
    args = p.parse_args()
    _quiet_libraries()
    out = Path(args.out or tempfile.mkdtemp(prefix="verifier-learning-"))
    overrides = [f"run.output_dir={out}", f"run.seed={args.seed}", "eval.at_start=false", "eval.every=0"]
    overrides += [f"run.steps={args.steps}"] if args.steps else []
    cfg = load_config(args.config, overrides + args.set)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, show_progress=False)  # builds the tiny model and runs the warm start
    setup_s = time.perf_counter() - t0
    items = heldout_items(cfg.arenas[0].eval_source or cfg.arenas[0].source, args.seed)
    before = measure(trainer, items)
    t1 = time.perf_counter()
    trainer.train()
    rl_s = time.perf_counter() - t1
    after = measure(trainer, items)
    trainer.close()
    print(json.dumps({"seed": args.seed, "items": len(items), "before": before, "after": after,
                      "setup_s": round(setup_s), "rl_s": round(rl_s), "steps": cfg.run.steps, "run_dir": str(out)}))
    print(f"\n{'':<32}{'accuracy':>9}{'95% CI':>16}{'balanced':>10}{'says correct':>14}{'invalid':>9}"
          f"   ({len(items)} held-out items, greedy)")
    print(f"{'majority class':<32}{before['majority_rate']:>9.3f}")
    for label, r in (("format-only warm start (SFT)", before), ("after RL (solver + verifier)", after)):
        ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        print(f"{label:<32}{r['accuracy']:>9.3f}{ci:>16}"
              f"{r['balanced_accuracy']:>10.3f}{r['says_correct_share']:>14.3f}{r['invalid_rate']:>9.3f}")
    print(f"warm start + setup {setup_s:.0f}s, RL {rl_s:.0f}s ({cfg.run.steps} steps)")
    print(f"verifier_accuracy_before={before['accuracy']:.3f}")
    print(f"verifier_accuracy_after={after['accuracy']:.3f}")
    print(f"verifier_accuracy_gain={after['accuracy'] - before['accuracy']:.3f}")


if __name__ == "__main__":
    main()
