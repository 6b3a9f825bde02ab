"""A rollout worker: one Ray actor with its own copy of the model, an engine and the arenas.

The driver builds each worker from the run's config (so the worker builds the same arenas and
engine a single process would), the learner's weights (version 0: the starting model, warm start
or checkpoint included) and the driver's arena states. Then, per step, `play` runs the episodes
of the seeds it is given and `sync` takes the new weights after each update. The worker never
trains and never writes checkpoints: the driver's learner and arenas own the run's state.

Arena hooks run in lockstep with the driver's: `before_step` once per step (before the first
`play` of that step; a replacement worker built mid-step is told the driver already applied it)
and `after_update` with every `sync`. What an arena draws from its own RNG (an opponent pool's
picks) therefore matches the driver's arena draw for draw.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from sparring.training.rollout import play_step
from sparring.types import Episode


class RolloutWorker:
    """Plays arenas' episodes for the seeds the driver sends (a Ray actor: see driver.py)."""

    def __init__(self, config: dict, rank: int, weights: dict[str, torch.Tensor], version: int,
                 arena_states: dict[str, dict], stepped: int, sys_path: list[str]) -> None:
        for entry in sys_path:  # the driver's import path, where it exists here (user modules)
            if entry not in sys.path and os.path.isdir(entry):
                sys.path.append(entry)
        from sparring.agents.engines import make_engine
        from sparring.agents.models import TinySpec, load_model, load_tokenizer, resolve
        from sparring.agents.policies import EnginePolicy
        from sparring.arenas import ArenaContext, build_arena
        from sparring.config import load_config
        from sparring.types import SamplingParams

        cfg = load_config(data=config)
        self.cfg, self.rank = cfg, rank
        torch.set_num_threads(cfg.cluster.worker_threads)
        path = resolve(cfg.model.name, TinySpec(**cfg.model.tiny.model_dump()))
        self.tokenizer = load_tokenizer(path)
        lora = None if cfg.model.lora is None else cfg.model.lora.model_dump()
        self.model = load_model(path, cfg.model.dtype, lora=lora, device=cfg.model.device)
        self.model.load_state_dict(weights)  # strict: the driver's model and this one must be the same
        self.model.eval()
        self.version = version
        self.engine = make_engine(cfg.engine, self.model, self.tokenizer)
        self.engine.load_weights(self.model)
        self.loop = asyncio.new_event_loop()
        sampling = SamplingParams(cfg.sampling.max_new_tokens, cfg.sampling.temperature, cfg.sampling.top_p)
        self.own_dir = own_dir = Path(tempfile.mkdtemp(prefix=f"sparring-worker{rank}-"))  # arenas' files, this node
        policy = EnginePolicy(self.engine)
        self.arenas = [build_arena(a, ArenaContext(policy=policy, engine=self.engine, tokenizer=self.tokenizer,
                                                   sampling=sampling, seed=cfg.run.seed, index=i, run_dir=own_dir,
                                                   model=self.model, model_config=cfg.model,
                                                   engine_config=cfg.engine, cluster=cfg.cluster))
                       for i, a in enumerate(cfg.arenas)]
        for arena in self.arenas:
            if arena.name in arena_states:
                arena.load_state_dict(arena_states[arena.name])
        self.stepped = stepped  # the last step whose before_step these arenas have seen

    def pid(self) -> int:
        return os.getpid()

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def play(self, step: int, jobs: list[tuple[int, list[int]]]) -> tuple[list[list[Episode]], dict[int, dict], float]:
        """Episodes of each (arena index, seeds) job, in seed order; the states of the arenas it
        played a whole step of (the driver keeps them); the seconds it took."""
        t0 = time.perf_counter()
        if self.stepped != step:
            for arena in self.arenas:
                arena.before_step(step)
            self.stepped = step
        # Episodes that sample outside a seeded stream draw from torch's global RNG: seeded per
        # (run seed, worker, step), so a layout reproduces itself.
        torch.manual_seed((self.cfg.run.seed * 1_000_003 + self.rank * 7_919 + step) % (2**63))

        async def run():
            return await asyncio.gather(*[play_step(self.arenas[a], step, seeds) for a, seeds in jobs])

        results = self.loop.run_until_complete(run())
        for episodes in results:
            for e in episodes:
                e.policy_version = self.version
        whole = {a: self.arenas[a].state_dict() for a, _ in jobs if not splits_by_seed(self.arenas[a])}
        return list(results), whole, time.perf_counter() - t0

    def sync(self, weights: dict[str, torch.Tensor], version: int) -> float:
        """Take the learner's weights after update `version`; run the arenas' after_update."""
        t0 = time.perf_counter()
        with torch.no_grad():
            unknown = self.model.load_state_dict(weights, strict=False).unexpected_keys  # a subset: trainable ones
        if unknown:
            raise ValueError(f"rollout worker {self.rank}: weights for parameters this model lacks: {unknown[:3]}")
        self._updated(version)
        return time.perf_counter() - t0

    def _updated(self, version: int) -> None:
        """The model holds update `version`: the engine serves it and the arenas hear of it."""
        self.engine.load_weights(self.model)
        self.version = version
        for arena in self.arenas:
            arena.after_update(version, self.model)

    # ----- weight_sync: collective (collective.py) ---------------------------------------------
    def check_layout(self, layout: list[tuple[str, tuple, str]]) -> None:
        """Raise, naming them, if the driver's (name, shape, dtype) parameters differ from this model's."""
        params = dict(self.model.named_parameters())
        wrong = [n for n, shape, dtype in layout
                 if n not in params or tuple(params[n].shape) != shape or str(params[n].dtype) != dtype]
        if wrong:
            raise ValueError(f"rollout worker {self.rank}: the driver broadcasts parameters this model lacks or "
                             f"holds in another shape or dtype: {wrong[:3]}")

    def join_group(self, address: str, port: int, rank: int, world: int, backend: str, names: list[str]) -> None:
        """Join the driver's process group; `names`: the trainable parameters it will broadcast."""
        from sparring.cluster import collective

        params = dict(self.model.named_parameters())
        self.received = [params[n] for n in names]
        self.device = "cuda" if backend == "nccl" else "cpu"
        collective.join(address, port, rank, world, backend)

    def receive(self, version: int) -> float:
        """`sync` through the group: the driver's broadcast lands in this model's tensors."""
        from sparring.cluster import collective

        t0 = time.perf_counter()
        collective.receive(self.received, self.device)
        self._updated(version)
        return time.perf_counter() - t0

    def close(self) -> None:
        for arena in self.arenas:
            self.loop.run_until_complete(arena.aclose())
        self.loop.run_until_complete(self.engine.aclose())
        shutil.rmtree(self.own_dir, ignore_errors=True)


def splits_by_seed(arena) -> bool:
    """Whether an arena's episodes are independent given their seeds (it inherits
    `Arena.play_step`), so a step's seeds may be split over workers; an arena with phases
    (Absolute Zero, corpus, tasks) plays each whole step on one worker."""
    from sparring.arenas.base import Arena

    return type(arena).play_step is Arena.play_step
