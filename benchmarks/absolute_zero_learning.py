"""Does the Absolute Zero loop improve a model? A CPU run on the tiny program grammar, against a
control with learning rate 0 on the same budget.

Runs `configs/absolute_zero_grammar.yaml`: the tiny local model, programs restricted to the tiny
grammar (environments/absolute_zero/grammar.py: compositions of a few primitives over small ints
and short lists; proposals outside it are rejected), task buffers seeded with a synthetic seed set
from the grammar's random program generator (training split of the program space, not
hand-written), a format warm start (proposals written as grammar programs with inputs; solver rows
show the answer format with another task's answer, so they teach nothing about which answer is
right), then deduction + abduction self-play.

Measured: greedy solver accuracy on held-out triplets (programs from the held-out split, never in
the seed set; answers checked in the sandbox as in training), after the warm start, after RL,
and after the control run (learning rate 0, same steps, same warm-started model). Also the
valid-proposal rate (after the warm start: the control's over all its steps, since its model never
moves; and early and late in the trained run) and the share of valid proposals whose Monte-Carlo
solve rate was strictly between 0 and 1. 95% Wilson intervals. The last line is
`azr_heldout_gain=X`: the trained run's held-out accuracy minus the control's.

The warm start is supervised learning on scripted format targets; only the gain over the control
is credited to reinforcement learning.

    python benchmarks/absolute_zero_learning.py [--seed N] [--steps N] [--heldout N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import EvalConfig, load_config  # noqa: E402
from sparring.environments.absolute_zero import grammar  # noqa: E402
from sparring.environments.verification.stats import wilson  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402

TASKS = ("deduction", "abduction")


def write_triplets(path: Path, entries) -> Path:
    path.write_text("".join(json.dumps({"task": e.task, "program": e.program, "input": e.input, "output": e.output})
                            + "\n" for e in entries))
    return path


def heldout_set(count: int, seed: int, fraction: float) -> list:
    rng = random.Random(f"heldout/{seed}")
    per_task = count // len(TASKS)
    return [e for t in TASKS for e in grammar.triplets(rng, per_task, "heldout", fraction, task=t)]


def measure(trainer: Trainer) -> dict[str, float]:
    """Greedy held-out accuracy per task and overall, from the arena's own evaluation."""
    arena = trainer.arenas[0]
    return trainer.loop.run_until_complete(arena.evaluate(EvalConfig(temperature=0.0)))


def run_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def rates(records: list[dict], first: int, last: int) -> tuple[float, float]:
    """Valid-proposal rate and learnable share (valid proposals with 0 < MC solve rate < 1) over
    steps first..last, weighted by the proposals of each step and task."""
    valid = total = learnable = scored = 0.0
    for r in records:
        if not first <= r.get("step", -1) <= last or "az/deduction/proposals" not in r:
            continue
        for t in TASKS:
            n = r.get(f"az/{t}/proposals", 0.0)
            v = n * r.get(f"az/{t}/valid_rate", 0.0)
            total, valid = total + n, valid + v
            if f"az/{t}/learnable_rate" in r:
                scored += v
                learnable += v * r[f"az/{t}/learnable_rate"]
    return (valid / total if total else 0.0), (learnable / scored if scored else 0.0)


def line(label: str, m: dict[str, float], n: int, name: str) -> str:
    acc = m[f"eval/{name}/heldout_accuracy"]
    lo, hi = (max(0.0, x) for x in wilson(round(acc * n), n))
    per = "  ".join(f"{t} {m[f'eval/{name}/{t}/heldout_accuracy']:.3f}" for t in TASKS)
    return f"{label:<34}{acc:>8.3f}  [{lo:.3f}, {hi:.3f}]   {per}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "absolute_zero_grammar.yaml"))
    p.add_argument("--steps", type=int, default=None, help="RL steps of each run (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=int, default=240, help="held-out triplets (half deduction, half abduction)")
    p.add_argument("--out", default=None, help="directory for both runs (default: a temp dir)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides (both runs)")
    args = p.parse_args()
    _quiet_libraries()
    out = Path(args.out or tempfile.mkdtemp(prefix="azr-learning-"))
    out.mkdir(parents=True, exist_ok=True)
    base = load_config(args.config, args.set)
    fraction = base.arenas[0].grammar.heldout_fraction
    held = heldout_set(args.heldout, args.seed, fraction)
    held_path = write_triplets(out / "heldout.jsonl", held)
    common = [f"run.seed={args.seed}", "eval.at_start=false", "eval.every=0", f"arenas.0.eval_triplets={held_path}"]
    common += [f"run.steps={args.steps}"] if args.steps else []
    t0 = time.perf_counter()
    trained_cfg = load_config(args.config, [*args.set, *common, f"run.output_dir={out / 'trained'}"])
    trainer = Trainer(trained_cfg, show_progress=False)  # builds the model, the seed set, the warm start
    setup_s = time.perf_counter() - t0
    start = measure(trainer)
    t1 = time.perf_counter()
    trainer.train()
    rl_s = time.perf_counter() - t1
    after = measure(trainer)
    trainer.close()
    steps = trained_cfg.run.steps
    # control: the same warm-started model, the same steps, learning rate 0
    control_cfg = load_config(args.config, [*args.set, *common, f"run.output_dir={out / 'control'}",
                                            f"model.name={out / 'trained' / 'warm_start'}", "warm_start.enabled=false",
                                            "optim.learning_rate=0.0"])
    t2 = time.perf_counter()
    control = Trainer(control_cfg, show_progress=False)
    control.train()
    control_s = time.perf_counter() - t2
    held_control = measure(control)
    control.close()
    name = trained_cfg.arenas[0].name
    trained_records, control_records = run_metrics(out / "trained"), run_metrics(out / "control")
    early = rates(trained_records, 1, max(1, steps // 10))
    late = rates(trained_records, steps - max(1, steps // 10) + 1, steps)
    control_late = rates(control_records, steps - max(1, steps // 10) + 1, steps)
    warm = rates(control_records, 1, steps)  # the control never moves: the warm start's own rate
    n = len(held)
    print(json.dumps({"seed": args.seed, "heldout": n, "start": start, "after": after, "control": held_control,
                      "setup_s": round(setup_s), "rl_s": round(rl_s), "control_s": round(control_s), "steps": steps,
                      "run_dir": str(out)}))
    print(f"\n{'greedy held-out accuracy':<34}{'all':>8}  {'95% CI':<16}  per task    ({n} held-out triplets)")
    print(line("format warm start (SFT)", start, n, name))
    print(line(f"after RL ({steps} steps)", after, n, name))
    print(line(f"control, learning rate 0 ({steps})", held_control, n, name))
    print(f"valid proposals: {early[0]:.3f} in the first tenth of the steps, {late[0]:.3f} in the last "
          f"(control {control_late[0]:.3f}); learnable share of valid proposals {early[1]:.3f} -> {late[1]:.3f} "
          f"(control {control_late[1]:.3f})")
    print(f"setup + warm start {setup_s:.0f}s, RL {rl_s:.0f}s, control {control_s:.0f}s")
    gain = after[f"eval/{name}/heldout_accuracy"] - held_control[f"eval/{name}/heldout_accuracy"]
    print(f"valid proposals of the warm-started model itself (the control, all {steps} steps): {warm[0]:.3f}")
    print(f"azr_valid_proposal_rate_after_warm_start={warm[0]:.3f}")
    print(f"azr_heldout_gain={gain:.3f}")


if __name__ == "__main__":
    main()
