"""Shared prompt prefill in the HF engine: generate throughput with it / without it.

Game positions recur across concurrent episodes and GRPO groups repeat one prompt, so a batch
of rollout requests holds few distinct prompts; the HF engine runs each distinct prompt's prefill
once and copies its KV cache to the rows (`HFEngine._shared_prompt_cache`). This script plays
`--episodes` Kuhn Poker self-play games through the arena (restated-card prompts, as the
equilibrium preset), records the batches the engine's scheduler cut, then generates those very
batches with the shared prefill and with plain `generate`, alternating rounds; medians of tokens
per second are compared. Greedy tokens and log-probs of the two paths agree (tested in
tests/agents/test_engine.py). Last line: `shared_prefill_speedup=X`.

    python benchmarks/shared_prefill.py [--episodes 128] [--rounds 5]
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from rollout_overhead import warm_kuhn_arena  # noqa: E402

from sparring.agents.hf_engine import HFEngine  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warm-examples", type=int, default=1500)
    args = p.parse_args()
    _quiet_libraries()
    sampling = SamplingParams(max_new_tokens=8, temperature=1.0)
    engine, arena = warm_kuhn_arena(args.model, sampling, args.warm_examples, 256, restate=True)
    loop = asyncio.new_event_loop()

    async def play_all():
        return await asyncio.gather(*[arena.play(i) for i in range(args.episodes)])

    loop.run_until_complete(play_all())
    loop.run_until_complete(engine.aclose())
    batches = engine.batches
    sizes = [len(b) for b in batches]
    distinct = [len({tuple(r) for r in b}) for b in batches]
    print(f"batches {sizes}, distinct prompts {distinct}, prompt tokens {min(len(r) for b in batches for r in b)}-"
          f"{max(len(r) for b in batches for r in b)}")
    shared = engine._shared_prompt_cache

    def timed(use_shared: bool) -> float:
        engine._shared_prompt_cache = shared if use_shared else (lambda *a: None)
        t0 = time.perf_counter()
        tokens = sum(len(g.completion_ids) for b in batches for g in HFEngine.generate_batch(engine, b, sampling))
        return tokens / (time.perf_counter() - t0)

    timed(True), timed(False)  # warm-up
    with_tps, without_tps = [], []
    for r in range(args.rounds):
        with_tps.append(timed(True))
        without_tps.append(timed(False))
        print(f"round {r}: shared prefill {with_tps[-1]:8.0f} tok/s   plain generate {without_tps[-1]:8.0f} tok/s",
              flush=True)
    a, b = statistics.median(with_tps), statistics.median(without_tps)
    print(f"shared_prefill_tokens_per_s={a:.0f} plain_generate_tokens_per_s={b:.0f} episodes={args.episodes}")
    print(f"shared_prefill_speedup={a / b:.3f}")


if __name__ == "__main__":
    main()
