"""Ray scaling on one machine: rollout throughput with 1 and 2 workers, sandbox-pool validation
throughput, and the weight broadcast time of a ~30M-parameter model.

1. Rollouts: Kuhn Poker self-play (`--episodes` per step) with the tiny model after a short
   format warm start (so games have their real length), played by `ClusterRollout` with one and
   with two rollout workers, each worker's engine pinned to one torch thread. Both setups live
   in one Ray instance and their rounds alternate (medians compared), so machine noise hits both
   alike. References: the same step in this process (LocalRollout) at one thread, and one worker
   playing half the step (each of two workers' share: narrower batches are cheaper per episode).
2. Validation: Absolute Zero's `Executor.validate_many` on `--programs` grammar programs, with a
   local sandbox of one worker (the baseline), a local sandbox of two workers, and a RaySandbox
   of two actors of one worker each.
3. Broadcast: `ClusterRollout.sync` of a ~30M-parameter model to two workers, through the object
   store (ray.put once, both load it) and through a gloo process group (`weight_sync:
   collective`), rounds alternating, medians of `--rounds`.

Last line: `ray_rollout_scaling_2_workers=X` (episodes/s with 2 workers over 1; goal >= 1.6 on
2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import load_config  # noqa: E402


def _config(out: str, workers: int | None, episodes: int, tiny: dict | None = None, warm: bool = True):
    data = {"run": {"name": "ray_scaling", "output_dir": out, "seed": 0, "steps": 1000, "threads": 1},
            "model": {"name": "tiny", **({"tiny": tiny} if tiny else {})}, "sampling": {"max_new_tokens": 6},
            "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": episodes,
                        "opponent": {"kind": "self"}, "invalid_action": {"penalty": -3.0, "retries": 0}}],
            "warm_start": {"enabled": warm, "examples": 1000, "epochs": 1, "learning_rate": 1e-3},
            "optim": {"micro_batch_size": 128}, "checkpoint": {"every": 1000}}
    if workers is not None:
        data["cluster"] = {"rollout_workers": workers, "worker_cpus": 1, "worker_threads": 1}
    return load_config(data=data)


def rollouts(args, out: str) -> float:
    from sparring.training.trainer import Trainer

    local = Trainer(_config(out, None, args.episodes), show_progress=False)  # runs the warm start once
    one = Trainer(_config(out, 1, args.episodes), show_progress=False)
    two = Trainer(_config(out, 2, args.episodes), show_progress=False)
    half = Trainer(_config(out, 1, args.episodes // 2), show_progress=False)  # one of the 2 workers' share
    rates: dict[str, list[float]] = {"in-process, 1 thread": [], "1 worker": [], "2 workers": [],
                                     "1 worker, half the step": []}
    setups = list(zip(rates, (local, one, two, half)))
    for name, trainer in setups:  # start workers, warm caches
        trainer.rollout.collect(0)
    for r in range(args.rounds):
        for name, trainer in (setups if r % 2 == 0 else setups[::-1]):
            t0 = time.perf_counter()
            episodes, _ = trainer.rollout.collect(r + 1)
            rates[name].append(len(episodes) / (time.perf_counter() - t0))
    for t in (local, one, two, half):
        t.close()
    print(f"\n1. rollouts: Kuhn Poker, {args.episodes} episodes per step, tiny model ({args.rounds} rounds, median)")
    for name, values in rates.items():
        print(f"   {name:22s} {statistics.median(values):8.1f} episodes/s")
    scaling = statistics.median(rates["2 workers"]) / statistics.median(rates["1 worker"])
    overhead = statistics.median(rates["1 worker"]) / statistics.median(rates["in-process, 1 thread"])
    print(f"   2 workers / 1 worker = {scaling:.2f}; 1 worker / in-process = {overhead:.2f}")
    return scaling


def validation(args) -> None:
    from sparring.cluster.sandbox_pool import RaySandbox
    from sparring.environments.absolute_zero.grammar import triplets
    from sparring.environments.absolute_zero.validation import Executor, ValidationConfig
    from sparring.sandbox import Sandbox

    items = [(e.program, e.inputs[0]) for e in triplets(random.Random(0), args.programs, "train")]
    pools = {"local sandbox, 1 worker": Sandbox("local", workers=1), "local sandbox, 2 workers": Sandbox("local", workers=2),
             "RaySandbox, 2 actors x 1": RaySandbox(2, "local", workers_per_actor=1, cpus_per_actor=1)}
    rates: dict[str, list[float]] = {name: [] for name in pools}
    for r in range(args.rounds + 1):
        for name, sandbox in pools.items():
            executor = Executor(sandbox, ValidationConfig())
            t0 = time.perf_counter()
            results = asyncio.run(executor.validate_many(items))
            if r:  # the first round warms the pools
                rates[name].append(len(items) / (time.perf_counter() - t0))
            assert sum(x.ok for x in results) >= 0.9 * len(items), f"{name}: {sum(x.ok for x in results)} valid"
    for sandbox in pools.values():
        sandbox.close()
    print(f"\n2. Absolute Zero validation of {len(items)} grammar programs (determinism runs included), median")
    base = statistics.median(rates["local sandbox, 1 worker"])
    for name, values in rates.items():
        print(f"   {name:26s} {statistics.median(values):7.1f} programs/s  ({statistics.median(values) / base:.2f}x)")


def broadcast(args, out: str) -> None:
    from sparring.training.trainer import Trainer

    tiny = {"hidden_size": 512, "num_layers": 9, "num_heads": 8, "num_kv_heads": 4, "intermediate_size": 1536}
    times: dict[str, list[float]] = {"object_store": [], "collective": []}
    trainers = {}
    for sync in times:
        cfg = _config(f"{out}/{sync}", 2, 4, tiny, warm=False)
        cfg.cluster.weight_sync = sync
        trainers[sync] = Trainer(cfg, show_progress=False)
        trainers[sync].rollout.collect(0)  # starts both workers
    params = sum(p.numel() for p in trainers["collective"].learner.model.parameters())
    trainers["collective"].rollout.sync(trainers["collective"].learner.model, 1)  # forms the group
    for version in range(2, args.rounds + 2):
        for sync, trainer in trainers.items():
            times[sync].append(trainer.rollout.sync(trainer.learner.model, version)["perf/broadcast_s"])
    for trainer in trainers.values():
        trainer.close()
    print(f"\n3. weight broadcast of a {params / 1e6:.1f}M-parameter model (float32) to 2 workers, median of {args.rounds}")
    for sync, values in times.items():
        print(f"   {sync:13s} {statistics.median(values) * 1000:6.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=512)
    p.add_argument("--programs", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    _quiet_libraries()
    torch.set_num_threads(1)
    import ray

    ray.init(num_cpus=4, include_dashboard=False, logging_level="ERROR", log_to_driver=False)  # 2 physical cores
    with tempfile.TemporaryDirectory() as tmp:
        scaling = rollouts(args, f"{tmp}/rollouts")
        validation(args)
        broadcast(args, f"{tmp}/broadcast")
    ray.shutdown()
    print(f"ray_rollout_scaling_2_workers={scaling:.2f}")


if __name__ == "__main__":
    main()
