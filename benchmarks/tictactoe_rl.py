"""TicTacToe learned by reinforcement learning from a format-only warm start.

Runs `configs/tictactoe_rl.yaml`: a warm start on uniformly random legal moves (it teaches the
answer format, no search, no expert), then RL against the config's opponent (the preset: minimax
with half its moves uniformly random; the learner sees only game outcomes; `--set
"arenas.0.opponent={kind: self}" --set loss.kl_coef=0.1` for self-play, which collapses without
the KL). Before and after RL the greedy model
plays `--eval-games` games per seat against the uniform-random legal policy (seat-averaged
win-or-draw and win rates) and `--minimax-games` per seat against the built-in minimax player
(which never loses; the draw rate is the figure). Random against random is measured in the same
run as the reference.

`--arm` picks the advantage estimator, the ablation of the issue, on the same warm start, budget
and seed: `critic` (the preset: PPO with GAE and a value head), `state` (RAE with the per-state
tabular baseline), `rae` (RAE alone, one baseline per seat). `--warm-start DIR` reuses a warm
start produced earlier with the same config and seed (the run directory's `warm_start/`).
A run with `--set "average_policy={enabled: true, start_step: N}"` also measures the RL
iterates' average policy (NFSP; self-play's under `opponent: {kind: self}`: the iterates' own
answers from step N on, fitted into a copy of the model by supervised learning at the end;
<run dir>/average) the same way, on its own line
(`tictactoe_rl_average_win_or_draw_vs_random=`).
The last lines are `tictactoe_format_warm_start=X` and `tictactoe_rl_win_or_draw_vs_random=Y`.

    python benchmarks/tictactoe_rl.py [--arm critic|state|rae] [--seed N] [--steps N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.agents.models import load_model  # noqa: E402
from sparring.agents.opponents import build_opponent  # noqa: E402
from sparring.agents.policies import EnginePolicy, RandomPolicy  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import OpponentConfig, load_config  # noqa: E402
from sparring.training.evaluate import evaluate_async  # noqa: E402
from sparring.training.metrics import read_metrics  # noqa: E402
from sparring.training.trainer import Trainer, saved_model  # noqa: E402

ARMS = {
    "critic": [],
    "state": ["advantages.estimator=rae", "advantages.options={}", "critic={}", "credit.baseline=state"],
    "rae": ["advantages.estimator=rae", "advantages.options={}", "critic={}"],
}


def play(trainer: Trainer, opponent, games_per_seat: int) -> tuple[float, float, float]:
    """(win-or-draw, win, draw) of the greedy model, seat-averaged."""
    arena = trainer.arenas[0]
    policy = EnginePolicy(trainer.engine, trainable=False, temperature=0.0)
    result = trainer.loop.run_until_complete(evaluate_async(
        policy, opponent, arena.game_name, arena.roles, games_per_seat, arena.game_options, arena.invalid))
    seats = result.seats
    win = sum(s.win for s in seats) / len(seats)
    draw = sum(s.draw for s in seats) / len(seats)
    return win + draw, win, draw


def measure(trainer: Trainer, args) -> dict[str, float]:
    arena = trainer.arenas[0]
    vs_random = play(trainer, RandomPolicy(seed=args.seed + 101), args.eval_games)
    minimax = build_opponent(OpponentConfig(kind="minimax"), game=arena.game_name, game_options=arena.game_options,
                             seed=args.seed + 7)
    vs_minimax = play(trainer, minimax, args.minimax_games)
    return {"win_or_draw": vs_random[0], "win": vs_random[1], "minimax_draw": vs_minimax[2],
            "minimax_win": vs_minimax[1]}


def random_vs_random(trainer: Trainer, games_per_seat: int) -> float:
    arena = trainer.arenas[0]
    result = asyncio.run(evaluate_async(RandomPolicy(1), RandomPolicy(2), arena.game_name, arena.roles, games_per_seat,
                                        arena.game_options, arena.invalid))
    return sum(s.win + s.draw for s in result.seats) / len(result.seats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "tictactoe_rl.yaml"))
    p.add_argument("--arm", choices=sorted(ARMS), default="critic", help="advantage estimator (ablation)")
    p.add_argument("--steps", type=int, default=None, help="RL steps (default: the config's)")
    p.add_argument("--eval-games", type=int, default=500, help="greedy games per seat against random")
    p.add_argument("--minimax-games", type=int, default=100, help="greedy games per seat against minimax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warm-start", default=None, help="reuse this warm-start directory (same config and seed)")
    p.add_argument("--out", default=None, help="run directory (default: a temp dir)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides")
    args = p.parse_args()
    _quiet_libraries()
    out = Path(args.out or tempfile.mkdtemp(prefix=f"tictactoe-rl-{args.arm}-"))
    if args.warm_start and not (out / "warm_start").exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(args.warm_start, out / "warm_start")
    overrides = [f"run.output_dir={out}", f"run.seed={args.seed}", "eval.at_start=false", *ARMS[args.arm]]
    overrides += [f"run.steps={args.steps}"] if args.steps else []
    cfg = load_config(args.config, overrides + args.set)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, show_progress=False)  # builds the tiny model and runs the warm start
    setup_s = time.perf_counter() - t0
    before = measure(trainer, args)
    t1 = time.perf_counter()
    trainer.train()
    rl_s = time.perf_counter() - t1
    after = measure(trainer, args)
    average = None
    if saved_model(out / "average"):  # average_policy enabled and fitted
        with trainer.using_weights(load_model(str(out / "average"))):
            average = measure(trainer, args)
    base = random_vs_random(trainer, args.eval_games)
    trainer.close()
    key = f"eval/{cfg.arenas[0].name}/vs_random"
    curve = {r["step"]: round(r[f"{key}/win"] + r[f"{key}/draw"], 3)
             for r in read_metrics(out / "metrics.jsonl") if f"{key}/win" in r}
    print(json.dumps({"arm": args.arm, "seed": args.seed, "before": before, "after": after, "average": average,
                      "random_vs_random": base,
                      "curve": curve, "setup_s": round(setup_s), "rl_s": round(rl_s), "steps": cfg.run.steps,
                      "run_dir": str(out)}))
    print(f"\n{'':<30}{'win+draw':>9}{'win':>7}{'draws vs minimax':>18}   "
          f"({args.eval_games} games per seat vs random, {args.minimax_games} vs minimax, greedy, seat-averaged)")
    print(f"{'random vs random':<30}{base:>9.3f}")
    print(f"{'format-only warm start (SFT)':<30}{before['win_or_draw']:>9.3f}{before['win']:>7.3f}{before['minimax_draw']:>18.3f}")
    print(f"{'after RL (' + args.arm + ')':<30}{after['win_or_draw']:>9.3f}{after['win']:>7.3f}{after['minimax_draw']:>18.3f}")
    if average is not None:
        print(f"{'average policy (NFSP; SL fit)':<30}{average['win_or_draw']:>9.3f}{average['win']:>7.3f}"
              f"{average['minimax_draw']:>18.3f}")
    print(f"warm start + setup {setup_s:.0f}s, RL {rl_s:.0f}s ({cfg.run.steps} steps x "
          f"{cfg.arenas[0].episodes_per_step} games), greedy curve vs random {curve}")
    print(f"tictactoe_rl_draw_vs_minimax={after['minimax_draw']:.3f}")
    if average is not None:
        print(f"tictactoe_rl_average_win_or_draw_vs_random={average['win_or_draw']:.3f}")
    print(f"tictactoe_format_warm_start={before['win_or_draw']:.3f}")
    print(f"tictactoe_rl_win_or_draw_vs_random={after['win_or_draw']:.3f}")


if __name__ == "__main__":
    main()
