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
and after the control run (learning rate 0, same steps, same warm-started model; its learner
skips the passes that lr 0 would throw away, so it costs the rollouts alone). Also the
valid-proposal rate (after the warm start: the control's over all its steps, since its model never
moves; and early and late in the trained run) and the share of valid proposals whose Monte-Carlo
solve rate was strictly between 0 and 1. 95% Wilson intervals. The last line is
`azr_heldout_gain=X`: the trained run's held-out accuracy minus the control's.

The warm start is supervised learning on scripted format targets; only the gain over the control
is credited to reinforcement learning.

`--supervised N` runs no RL: it fine-tunes the warm-started model by supervised learning on the
right answers of N solver tasks (deduction and abduction, programs from the training split, never
held out) and prints `azr_supervised_heldout_gain=X`, that model's held-out accuracy minus the warm
start's. It is a yardstick for the RL gain, not an RL result: how much N right answers, handed
over, teach this model about held-out programs.

    python benchmarks/absolute_zero_learning.py [--seed N] [--steps N] [--heldout N] [--set key=value ...]
    python benchmarks/absolute_zero_learning.py --supervised 8000 [--supervised-epochs 1]
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

from sparring.agents.models import load_model, load_tokenizer  # noqa: E402
from sparring.arenas.absolute_zero_roles import make_roles  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import EvalConfig, load_config  # noqa: E402
from sparring.environments.absolute_zero import grammar, tasks  # noqa: E402
from sparring.environments.verification.stats import wilson  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402
from sparring.training.warm_start import run_sft  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402

TASKS = ("deduction", "abduction")


def write_triplets(path: Path, entries) -> Path:
    path.write_text("".join(json.dumps({"task": e.task, "program": e.program, "input": e.input, "output": e.output})
                            + "\n" for e in entries))
    return path


def heldout_set(count: int, seed: int, fraction: float) -> list:
    rng = random.Random(f"heldout/{seed}")
    per_task = count // len(TASKS)
    return [e for t in TASKS for e in grammar.triplets(rng, per_task, "heldout", fraction, task=t)]


def answer_rows(cfg, count: int, seed: int, tokenizer) -> list[dict]:
    """SFT rows of `count` solver tasks (half deduction, half abduction; training-split programs)
    whose completions are the right answers, in the solver roles' own prompts and format."""
    arena = cfg.arenas[0]
    roles = make_roles(arena, SamplingParams(), tokenizer)
    rng = random.Random(f"supervised/{seed}")
    rows = []
    for t in TASKS:
        for entry in grammar.triplets(rng, count // len(TASKS), "train", arena.grammar.heldout_fraction,
                                      arena.grammar.max_depth, task=t):
            task, role = tasks.solver_task(entry), roles[(t, "solver")]
            rows.append(role.sft_row(task.prompt(), role.format_answer(tasks.answer_text(task))))
    rng.shuffle(rows)
    return rows


def supervised_yardstick(args, base, common: list[str], out: Path, warm: Path, start: dict, n: int, name: str) -> None:
    """Fine-tune the starting model `warm` on right answers (supervised); print its held-out accuracy."""
    model, tokenizer = load_model(str(warm), device=base.model.device), load_tokenizer(str(warm))
    rows = answer_rows(base, args.supervised, args.seed, tokenizer)
    t0 = time.perf_counter()
    stats = run_sft(model, tokenizer, rows, epochs=args.supervised_epochs, learning_rate=args.supervised_lr,
                    batch_size=base.warm_start.batch_size, seed=args.seed)
    sft_s = time.perf_counter() - t0
    model.save_pretrained(out / "supervised")
    tokenizer.save_pretrained(out / "supervised")
    cfg = load_config(args.config, [*args.set, *common, f"run.output_dir={out / 'supervised_run'}",
                                    f"model.name={out / 'supervised'}", "warm_start.enabled=false"])
    probe = Trainer(cfg, show_progress=False)
    after = measure(probe)
    probe.close()
    print(json.dumps({"seed": args.seed, "heldout": n, "start": start, "supervised": after, "rows": len(rows),
                      "epochs": args.supervised_epochs, "sft_loss": stats["warm_start/loss"], "sft_s": round(sft_s)}))
    print(f"\n{'greedy held-out accuracy':<34}{'all':>8}  {'95% CI':<16}  per task    ({n} held-out triplets)")
    print(line("format warm start (SFT)", start, n, name))
    print(line(f"+ SFT on {len(rows)} right answers", after, n, name))
    print(f"supervised learning on the right answers, not RL ({args.supervised_epochs:g} epochs, {sft_s:.0f}s)")
    gain = after[f"eval/{name}/heldout_accuracy"] - start[f"eval/{name}/heldout_accuracy"]
    print(f"azr_supervised_heldout_gain={gain:.3f}")


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
    p.add_argument("--supervised", type=int, default=0, metavar="N",
                   help="no RL: supervised learning on N right answers from the warm start (a yardstick)")
    p.add_argument("--supervised-epochs", type=float, default=1.0)
    p.add_argument("--supervised-lr", type=float, default=1e-3)
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
    name = trained_cfg.arenas[0].name
    if args.supervised:
        trainer.close()
        warm = out / "trained" / "warm_start" if trained_cfg.warm_start.enabled else Path(trainer.base_path)
        supervised_yardstick(args, base, common, out, warm, start, len(held), name)
        return
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
