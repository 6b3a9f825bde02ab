"""Merged update: learner time on one self-play step's samples, identical samples merged vs not.

Plays `--games` self-play games of a game (TicTacToe by default, the compact view) with a model
at temperature 1, assigns advantages as training does (RAE, state baseline), and times
`Learner.update` (KL to a reference, as the shipped TicTacToe config) on the batch built with
`merge=True` (identical prompt+completion samples share one row) and `merge=False`, rounds
alternating, each round from the same starting weights. Both must give the same loss; the
speed-up is the ratio of the medians. `--model` takes a trained checkpoint (duplicates depend on
how concentrated the policy is); the default is the untrained tiny model. Last line:
`merged_update_speedup=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from sparring.agents import EnginePolicy, seat_roles  # noqa: E402
from sparring.agents.hf_engine import HFEngine  # noqa: E402
from sparring.agents.models import load_model, load_tokenizer, resolve  # noqa: E402
from sparring.arenas import GameArena  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import CreditConfig, LossConfig, OptimConfig  # noqa: E402
from sparring.training import batching  # noqa: E402
from sparring.training.credit import AdvantageAssigner  # noqa: E402
from sparring.training.learner import Learner  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--game", default="tictactoe")
    p.add_argument("--view", default="compact", help="TicTacToe view (ignored for other games)")
    p.add_argument("--games", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--micro-batch", type=int, default=256)
    args = p.parse_args()
    _quiet_libraries()
    torch.manual_seed(0)
    path = resolve(args.model)
    model, tokenizer = load_model(path), load_tokenizer(path)
    options = {"view": args.view} if args.game == "tictactoe" else {}
    arena = GameArena("a", args.game, seat_roles(args.game, 2, SamplingParams(4, temperature=1.0)),
                      EnginePolicy(HFEngine(model, tokenizer, max_batch_size=args.games)), game_options=options)
    episodes = asyncio.run(arena.play_step(0, list(range(args.games))))
    samples = AdvantageAssigner(credit=CreditConfig(baseline="state")).assign(episodes)
    builds = {merge: batching.build(samples, args.micro_batch, tokenizer.pad_token_id, merge=merge) for merge in (False, True)}
    rows = {merge: sum(len(mb.advantages) for mb in b) for merge, b in builds.items()}
    times: dict[bool, list[float]] = {False: [], True: []}
    losses: dict[bool, float] = {}
    for _ in range(args.rounds):
        for merge in (False, True):
            learner = Learner(copy.deepcopy(model), OptimConfig(learning_rate=1e-3), LossConfig(kl_coef=0.1))
            t0 = time.perf_counter()
            losses[merge] = learner.update(builds[merge])["loss/total"]
            times[merge].append(time.perf_counter() - t0)
    plain, merged = statistics.median(times[False]), statistics.median(times[True])
    print(f"{args.game}: {args.games} self-play games, {len(samples)} samples -> {rows[True]} distinct rows "
          f"({rows[True] / len(samples):.2f}); torch threads {torch.get_num_threads()}")
    print(f"update, one row per sample:  {plain:6.2f} s (median of {args.rounds}), loss {losses[False]:.6f}")
    print(f"update, identical rows merged: {merged:6.2f} s (median of {args.rounds}), loss {losses[True]:.6f}")
    assert abs(losses[False] - losses[True]) < 1e-4, "merged rows must give the same loss"
    print(f"merged_update_speedup={plain / merged:.2f}")


if __name__ == "__main__":
    main()
