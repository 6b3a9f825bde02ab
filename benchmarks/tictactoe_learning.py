"""TicTacToe learning benchmark: tiny model, warm start, then self-play RL (RAE).

Runs `configs/tictactoe_tiny.yaml` from scratch (the warm start, Monte-Carlo labels of the
positions a label-following player meets against random play, learned by SFT, is timed as part
of the run),
then plays `--eval-games` greedy games per seat against the uniform-random legal policy and
reports the seat-averaged win+draw rate and win rate, before RL (right after the warm start)
and after. In the same run it plays uniform random against uniform random as the reference
(expected: 0.563 seat-averaged win+draw, 0.437 win). The last line is
`tictactoe_win_or_draw_vs_random=...`.

    python benchmarks/tictactoe_learning.py [--steps N] [--eval-games 500] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.agents.policies import RandomPolicy  # noqa: E402
from sparring.agents.roles import seat_roles  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import load_config  # noqa: E402
from sparring.training.evaluate import evaluate_async  # noqa: E402
from sparring.training.metrics import read_metrics  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402

KEY = "eval/tictactoe/vs_random"


def rates(metrics: dict) -> tuple[float, float, float]:
    return metrics[f"{KEY}/win"] + metrics[f"{KEY}/draw"], metrics[f"{KEY}/win"], metrics[f"{KEY}/invalid"]


def random_vs_random(games_per_seat: int) -> tuple[float, float]:
    roles = seat_roles("tictactoe", 2, SamplingParams(4))
    r = asyncio.run(evaluate_async(RandomPolicy(1), RandomPolicy(2), "tictactoe", roles, games_per_seat))
    return r.win + r.draw, r.win


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "tictactoe_tiny.yaml"), help="run config")
    p.add_argument("--steps", type=int, default=None, help="RL steps (default: the config's)")
    p.add_argument("--eval-games", type=int, default=500, help="greedy games per seat, before and after")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default: a temp dir)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides")
    args = p.parse_args()
    _quiet_libraries()
    out = Path(args.out or tempfile.mkdtemp(prefix="tictactoe-bench-"))
    overrides = [f"run.output_dir={out}", f"run.seed={args.seed}"] + ([f"run.steps={args.steps}"] if args.steps else [])
    cfg = load_config(args.config, overrides + args.set)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, show_progress=False)  # builds the tiny model and runs the warm start
    setup_s = time.perf_counter() - t0
    before = rates(trainer.evaluate(args.eval_games))
    t1 = time.perf_counter()
    trainer.train()
    rl_s = time.perf_counter() - t1
    after = rates(trainer.evaluate(args.eval_games))
    trainer.close()
    base = random_vs_random(args.eval_games)
    curve = {r["step"]: round(r[f"{KEY}/win"] + r[f"{KEY}/draw"], 3)
             for r in read_metrics(out / "metrics.jsonl") if f"{KEY}/win" in r}
    print(json.dumps({"before": before, "after": after, "random_vs_random": base, "curve": curve,
                      "setup_s": round(setup_s), "rl_s": round(rl_s), "steps": cfg.run.steps, "run_dir": str(out)}))
    print(f"\n{'':<22}{'win+draw':>9}{'win':>8}{'invalid':>9}   ({args.eval_games} greedy games per seat, seat-averaged)")
    print(f"{'random vs random':<22}{base[0]:>9.3f}{base[1]:>8.3f}{0:>9.3f}")
    print(f"{'model after warm start':<22}{before[0]:>9.3f}{before[1]:>8.3f}{before[2]:>9.3f}")
    print(f"{'model after RL':<22}{after[0]:>9.3f}{after[1]:>8.3f}{after[2]:>9.3f}")
    print(f"warm start + setup {setup_s:.0f}s, RL {rl_s:.0f}s ({cfg.run.steps} steps x "
          f"{cfg.arenas[0].episodes_per_step} games), total {setup_s + rl_s:.0f}s; greedy curve {curve}")
    print(f"tictactoe_win_vs_random={after[1]:.3f}")
    print(f"tictactoe_win_or_draw_vs_random={after[0]:.3f}")


if __name__ == "__main__":
    main()
