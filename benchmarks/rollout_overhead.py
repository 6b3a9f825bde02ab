"""Rollout overhead: arena-driven generation throughput / raw batched `generate` throughput.

Arena side: `--episodes` Kuhn Poker self-play games run concurrently through GameArena ->
EnginePolicy -> HFEngine's asyncio scheduler. Raw side: the very same prompts, cut into the
same batch sizes the scheduler produced, fed straight to `engine.generate_batch`. Both count
generated tokens per wall-clock second; the rounds alternate and the medians are compared, so
machine noise hits both sides alike. The model is first warm-started (TRL SFT) so it writes
legal moves and games have their real length. Last line: `rollout_overhead_ratio=...`
(goal >= 0.85: the scheduler keeps the engine saturated).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.agents import EnginePolicy, seat_roles  # noqa: E402
from sparring.agents.hf_engine import HFEngine  # noqa: E402
from sparring.agents.models import load_model, load_tokenizer, resolve  # noqa: E402
from sparring.agents.prompting import PromptConfig, seat_roles_for  # noqa: E402
from sparring.arenas import GameArena  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.training.warm_start import run_sft, transcripts  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402


class RecordingEngine(HFEngine):
    """HFEngine that remembers the batches its scheduler cut."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.batches: list[list[list[int]]] = []

    def generate_batch(self, prompts, sampling):
        self.batches.append([list(p) for p in prompts])
        return super().generate_batch(prompts, sampling)


def warm_kuhn_arena(model: str, sampling: SamplingParams, warm_examples: int, max_batch_size: int,
                    restate: bool = False) -> tuple[RecordingEngine, GameArena]:
    """A Kuhn Poker self-play arena on `model`, warm-started (TRL SFT on random legal play) so it
    writes legal moves and games have their real length; its engine records the batches it cuts.
    `restate`: the roles restate the card first (`prompt.restate`)."""
    path = resolve(model)
    tok = load_tokenizer(path)
    lm = load_model(path)
    if restate:
        roles = seat_roles_for(PromptConfig(restate=True), "kuhn_poker", 2, sampling, tokenizer=tok)
    else:
        roles = seat_roles("kuhn_poker", 2, sampling)
    if warm_examples:
        run_sft(lm, tok, transcripts([("kuhn_poker", {}, roles)], warm_examples, 0),
                epochs=1, learning_rate=1e-3, batch_size=32, seed=0)
    engine = RecordingEngine(lm, tok, max_batch_size=max_batch_size)
    return engine, GameArena("kuhn", "kuhn_poker", roles, EnginePolicy(engine))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--episodes", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-batch-size", type=int, default=256)
    p.add_argument("--warm-examples", type=int, default=1500)
    args = p.parse_args()
    _quiet_libraries()
    sampling = SamplingParams(max_new_tokens=6, temperature=1.0)
    engine, arena = warm_kuhn_arena(args.model, sampling, args.warm_examples, args.max_batch_size)
    loop = asyncio.new_event_loop()

    async def play_all(r: int):
        return await asyncio.gather(*[arena.play(r * 100_000 + i) for i in range(args.episodes)])

    def arena_round(r: int) -> tuple[float, list[list[list[int]]]]:
        engine.batches = []
        t0 = time.perf_counter()
        episodes = loop.run_until_complete(play_all(r))
        dt = time.perf_counter() - t0
        tokens = sum(len(t.completion_ids) for e in episodes for t in e.turns)
        return tokens / dt, engine.batches

    def raw_round(batches) -> float:
        t0 = time.perf_counter()
        tokens = sum(len(g.completion_ids) for b in batches for g in HFEngine.generate_batch(engine, b, sampling))
        return tokens / (time.perf_counter() - t0)

    arena_round(99)  # warm-up: allocator, kernels, prompt cache
    arena_tps, raw_tps = [], []
    for r in range(args.rounds):
        tps, batches = arena_round(r)
        arena_tps.append(tps)
        raw_tps.append(raw_round(batches))
        sizes = [len(b) for b in batches]
        print(f"round {r}: arena {tps:8.0f} tok/s   raw generate {raw_tps[-1]:8.0f} tok/s   batches {sizes}", flush=True)
    loop.run_until_complete(engine.aclose())
    a, b = statistics.median(arena_tps), statistics.median(raw_tps)
    print(f"arena_tokens_per_s={a:.0f} raw_generate_tokens_per_s={b:.0f} episodes={args.episodes}")
    print(f"rollout_overhead_ratio={a / b:.3f}")


if __name__ == "__main__":
    main()
