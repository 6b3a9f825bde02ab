"""Rollout: the one place where arenas and the engine meet.

`collect` plays every arena's episodes for a step concurrently on one asyncio loop; the
engine's scheduler batches their requests. Episode seeds derive from (run seed, step, arena,
index), so a resumed run replays the same games. It also summarises the rollout into
namespaced metrics (rollout/, reward/<arena>/<role>, perf/).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from sparring.agents.request_seeds import episode_stream, mix
from sparring.arenas.base import Arena
from sparring.types import Episode


def episode_seed(run_seed: int, step: int, arena_index: int, i: int) -> int:
    return (run_seed * 1_000_003 + step * 100_019 + arena_index * 10_007 + i) % (2**31 - 1)


async def play_step(arena: Arena, step: int, seeds: list[int]) -> list[Episode]:
    """`arena.play_step` inside one request stream for the step (engine.seeded_sampling): an arena
    with phases draws its request seeds from it in the order it issues requests, which is fixed
    unless it awaits threads or the sandbox between them; an arena that plays per seed opens a
    stream per episode inside it (Arena.play_step), so this one goes unused there."""
    with episode_stream(mix(seeds[0] if seeds else 0, step)):
        return await arena.play_step(step, seeds)


async def collect_async(arenas: list[tuple[Arena, int]], step: int, run_seed: int) -> list[Episode]:
    jobs = [
        play_step(arena, step, [episode_seed(run_seed, step, a, i) for i in range(count)])
        for a, (arena, count) in enumerate(arenas)
    ]
    return [e for episodes in await asyncio.gather(*jobs) for e in episodes]


def collect(arenas: list[tuple[Arena, int]], step: int, run_seed: int, loop: asyncio.AbstractEventLoop,
            overlong: str = "invalid") -> tuple[list[Episode], dict[str, float]]:
    """Play `count` episodes of every (arena, count); returns episodes and rollout metrics
    (`overlong`: the run's sampling.overlong rule, for rollout/overlong_masked_rate)."""
    t0 = time.perf_counter()
    episodes = loop.run_until_complete(collect_async(arenas, step, run_seed))
    stats = summarize(episodes, time.perf_counter() - t0, overlong)
    for arena, _ in arenas:
        stats.update(arena.metrics([e for e in episodes if e.arena == arena.name]))
    return episodes, stats


class LocalRollout:
    """Rollouts in this process (no `cluster:`): arenas play on the trainer's loop and the engine
    serves the learner's model. The trainer calls `collect(step)` and, after each update,
    `sync(model, version)`; sparring.cluster.ClusterRollout has the same two methods."""

    def __init__(self, arenas: list[tuple[Arena, int]], engine, loop: asyncio.AbstractEventLoop, run_seed: int,
                 overlong: str, version: int) -> None:
        self.arenas, self.engine, self.loop = arenas, engine, loop
        self.run_seed, self.overlong, self.version = run_seed, overlong, version

    def collect(self, step: int) -> tuple[list[Episode], dict[str, float]]:
        episodes, stats = collect(self.arenas, step, self.run_seed, self.loop, self.overlong)
        for e in episodes:
            e.policy_version = self.version
        return episodes, stats

    def sync(self, model, version: int) -> dict[str, float]:
        """The engine takes the learner's weights after update `version`; its metrics."""
        self.engine.load_weights(model)
        self.version = version
        return self.engine.metrics()

    def close(self) -> None:
        pass


def summarize(episodes: list[Episode], seconds: float, overlong: str = "invalid") -> dict[str, float]:
    """Rollout metrics of a step; under overlong "mask" the trainable turns cut off at the token
    cap are kept out of the loss, and rollout/overlong_masked_rate is their share."""
    attempts = [t for e in episodes for t in e.turns if t.trainable]
    gen_tokens = sum(len(t.completion_ids) for t in attempts)
    rewards: dict[str, list[float]] = defaultdict(list)
    for e in episodes:
        for player, role in enumerate(e.roles):
            if e.learner_seats is None or player in e.learner_seats:
                rewards[f"reward/{e.arena}/{role}"].append(e.rewards[player])
    stats = {
        "rollout/episodes": float(len(episodes)),
        "rollout/turns": float(len(attempts)),
        "rollout/invalid_rate": sum(t.invalid for t in attempts) / max(len(attempts), 1),
        "rollout/truncated_rate": sum(t.truncated for t in attempts) / max(len(attempts), 1),
        "rollout/forfeit_rate": sum(e.forfeit is not None for e in episodes) / max(len(episodes), 1),
        "rollout/completion_tokens_mean": gen_tokens / max(len(attempts), 1),
        "perf/rollout_s": seconds,
        "perf/rollout_tokens_per_s": gen_tokens / seconds if seconds > 0 else 0.0,
    }
    if overlong == "mask":  # the same turns credit.AdvantageAssigner leaves out of the loss
        stats["rollout/overlong_masked_rate"] = stats["rollout/truncated_rate"]
    stats.update({k: sum(v) / len(v) for k, v in rewards.items()})
    by_arena: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_arena[e.arena].append(e)
    for name, eps in by_arena.items():  # per-arena rates, for multi-arena runs
        turns = [t for e in eps for t in e.turns if t.trainable]
        stats[f"rollout/{name}/invalid_rate"] = sum(t.invalid for t in turns) / max(len(turns), 1)
    return stats
