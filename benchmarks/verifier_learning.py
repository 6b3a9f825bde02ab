"""A verifier learned by reinforcement learning: accuracy on held-out problems before and after.

Runs `configs/rise_tiny.yaml`: the tiny local model, a format-only warm start (verdicts and
answers drawn independently of the truth), then RL in the task arena, the solver and the verifier
trained together (RISE), the verifier paid for agreeing with the checked truth, class-balanced.
Before and after RL the greedy verifier judges every held-out item: each problem of the
arithmetic generator's held-out split (never drawn in training) with its right answer and with
every wrong answer the generator can make for it (off by one or two, off by ten, swapped
operands, the wrong operation). Wrong items outnumber right ones, so the figure is accuracy with
both classes weighted equally (balanced accuracy: the mean of the recall on right and on wrong
items; 0.5 for any constant verdict, the majority-class rate under this weighting), with a 95%
normal-approximation interval; plain accuracy and the plain majority rate are printed beside it.

The last line is `verifier_accuracy_gain=X` (balanced accuracy after minus before).

    python benchmarks/verifier_learning.py [--seed N] [--steps N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
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
from sparring.environments.problems.arithmetic import OPS, Arithmetic, all_corruptions  # noqa: E402
from sparring.environments.problems.arithmetic import question as arith_question  # noqa: E402
from sparring.environments.verification.stats import balanced_interval, verdict_stats  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402


def heldout_items(source) -> list[Candidate]:
    """Every held-out problem with its right answer and with each wrong answer the generator can
    make for it: the whole held-out item population, no sampling."""
    pool = Arithmetic(source.ops, source.max_operand, "heldout", source.heldout_fraction)
    items = []
    for a, op, b in pool.space:
        q = arith_question(a, op, b)
        items.append(Candidate(q, str(OPS[op](a, b)), True, 0))
        items += [Candidate(q, str(w), False, 0) for w in all_corruptions(a, op, b)]
    return items


def measure(trainer: Trainer, items: list[Candidate], temperature: float = 0.0, samples: int = 1) -> dict[str, float]:
    """Verdict stats on `items`: greedy (temperature 0), or `samples` verdicts per item sampled at
    `temperature` (the policy's expected accuracy; every item weighs the same)."""
    arena = trainer.arenas[0]
    policy = EnginePolicy(trainer.engine, trainable=False, temperature=temperature)
    stage = VerificationStage(arena.verify.cfg, policy, arena.verify.role, arena.name)
    repeated = [c for c in items for _ in range(samples)]
    asked = trainer.loop.run_until_complete(stage.ask(repeated))
    truths, says = [c.truth for c in repeated], [None if v is None else v.correct for _, v in asked]
    stats = verdict_stats(truths, says)
    lo, hi = balanced_interval(truths, says)  # sampled: each verdict counted (a narrower interval)
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
    items = heldout_items(cfg.arenas[0].eval_source or cfg.arenas[0].source)
    temperature = cfg.sampling.temperature
    before, before_t = measure(trainer, items), measure(trainer, items, temperature, 4)
    t1 = time.perf_counter()
    trainer.train()
    rl_s = time.perf_counter() - t1
    after, after_t = measure(trainer, items), measure(trainer, items, temperature, 4)
    trainer.close()
    print(json.dumps({"seed": args.seed, "items": len(items), "before": before, "after": after,
                      "before_sampled": before_t, "after_sampled": after_t,
                      "setup_s": round(setup_s), "rl_s": round(rl_s), "steps": cfg.run.steps, "run_dir": str(out)}))
    n_right = sum(c.truth for c in items)
    print(f"\n{'':<32}{'balanced':>9}{'95% CI':>16}{'accuracy':>10}{'says correct':>14}{'invalid':>9}"
          f"   ({len(items)} held-out items: {n_right} right, {len(items) - n_right} wrong; greedy)")
    print(f"{'majority class':<32}{0.5:>9.3f}{'':>16}{before['majority_rate']:>10.3f}")
    for label, r in (("format-only warm start (SFT)", before), ("after RL (solver + verifier)", after)):
        ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        print(f"{label:<32}{r['balanced_accuracy']:>9.3f}{ci:>16}{r['accuracy']:>10.3f}"
              f"{r['says_correct_share']:>14.3f}{r['invalid_rate']:>9.3f}")
    print(f"sampled at T={temperature}, 4 verdicts per item: balanced accuracy {before_t['balanced_accuracy']:.3f} "
          f"before, {after_t['balanced_accuracy']:.3f} after (says yes {before_t['says_correct_share']:.3f} -> "
          f"{after_t['says_correct_share']:.3f})")
    print(f"warm start + setup {setup_s:.0f}s, RL {rl_s:.0f}s ({cfg.run.steps} steps)")
    print(f"verifier_accuracy_before={before['balanced_accuracy']:.3f}")
    print(f"verifier_accuracy_after={after['balanced_accuracy']:.3f}")
    print(f"verifier_accuracy_gain={after['balanced_accuracy'] - before['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
