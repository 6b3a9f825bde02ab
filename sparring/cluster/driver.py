"""Rollouts on a Ray cluster: the driver's side (`cluster:` in a config).

`ClusterRollout` is what the trainer's loop calls instead of the in-process rollout. Per step it
splits every arena's episode seeds over the rollout workers (contiguous shares; an arena with
phases goes whole to one worker), gathers their episodes in the order a single process returns
them (arena by arena, seed by seed), and after each update broadcasts the learner's weights
through Ray's object store (one `ray.put`, every worker reads the same object). Each episode
carries the version of the weights that played it (`Episode.policy_version`), so staleness is
logged (`rollout/staleness_mean`, `_max`).

Faults: a worker whose process dies, or that overruns `cluster.play_timeout_s` (it is killed),
is replaced (a new actor with the driver's current weights and arena states) and the seeds it
held are played again; episodes come only from calls that returned, so none is lost or counted
twice. A worker slot that dies more than
`cluster.max_worker_restarts` times in a row stops the run with the cause and the seeds.

With `cluster.weight_sync: collective` the broadcast goes through a torch.distributed group of
the driver and the workers instead (NCCL between GPUs, gloo on CPU; collective.py).

Not here: the learner stays in the driver process (no learner actors; see docs/cluster.md).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from sparring.cluster.worker import RolloutWorker, splits_by_seed
from sparring.training.rollout import episode_seed, summarize
from sparring.types import Episode

if TYPE_CHECKING:
    from sparring.arenas.base import Arena
    from sparring.config import ClusterConfig, ExperimentConfig

log = logging.getLogger(__name__)


def connect(cluster: ClusterConfig) -> bool:
    """Join (or start) the Ray cluster of `cluster`; True when this call started Ray."""
    try:
        import ray
    except ImportError:
        from sparring.config import ConfigError

        raise ConfigError("cluster: needs Ray, which is not installed: pip install 'sparring[ray]' "
                          "(or bash scripts/install.sh ray)") from None

    if ray.is_initialized():
        return False
    local = cluster.address is None
    ray.init(address=cluster.address, num_cpus=cluster.local_cpus if local else None,
             include_dashboard=False, logging_level=logging.WARNING, configure_logging=False)
    return True


def shares(seeds: list[int], parts: int) -> list[list[int]]:
    """`seeds` cut into `parts` contiguous shares whose sizes differ by at most one."""
    base, extra = divmod(len(seeds), parts)
    out, start = [], 0
    for p in range(parts):
        size = base + (p < extra)
        out.append(seeds[start:start + size])
        start += size
    return out


def model_weights(model, trainable_only: bool) -> dict[str, torch.Tensor]:
    """CPU copies of the weights a worker needs: every entry of the state dict, or only those that
    train (all of a fully fine-tuned model, the adapters of a LoRA one)."""
    if trainable_only:
        return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().to("cpu", copy=True) for n, t in model.state_dict().items()}


class WorkerDied(RuntimeError):
    """A rollout worker slot failed more than cluster.max_worker_restarts times in a row."""


class ClusterRollout:
    """Rollout workers as Ray actors; `collect(step)` and `sync(model, version)` for the trainer."""

    def __init__(self, cfg: ExperimentConfig, arenas: list[Arena], counts: list[int], model, version: int,
                 engine=None, owns_ray: bool = False) -> None:
        import ray

        self.cfg, self.cluster = cfg, cfg.cluster
        self.arenas, self.counts = arenas, counts
        self.model = model  # the learner's: replacements start from its current weights
        self.engine = engine  # the driver's own engine (evaluation, arenas' prepare), kept in sync too
        self.version = version
        self.owns_ray = connect(self.cluster) or owns_ray
        self._remote = ray.remote(RolloutWorker).options(
            num_cpus=self.cluster.worker_cpus, num_gpus=self.cluster.worker_gpus, max_restarts=0, max_task_retries=0,
            scheduling_strategy="SPREAD")  # one worker per node first: every machine plays
        self.workers: list = [None] * self.cluster.rollout_workers
        self.failures = [0] * self.cluster.rollout_workers  # consecutive deaths per slot
        self.restarts = 0
        self.driver_step = -1  # the last step the driver's arenas ran before_step for
        self.pending: dict[int, dict[int, tuple]] = {}  # step -> slot -> ((play ref, deadline), jobs)
        self.syncs: list[tuple[int, object]] = []  # (slot, sync ref) not yet checked
        self._stats: dict[str, float] = {}
        self.started = [0] * self.cluster.rollout_workers  # actors started per slot (a replacement is new)
        self.group: tuple | None = None  # weight_sync collective: the (slot, start) members of the group

    # ----- workers ----------------------------------------------------------------------------
    def _start(self, slot: int):
        import ray

        states = {a.name: s for a in self.arenas if (s := a.state_dict()) is not None}
        weights = ray.put(model_weights(self.model, trainable_only=False))
        worker = self._remote.remote(self.cfg.model_dump(mode="json"), slot, weights, self.version, states,
                                     self.driver_step, list(sys.path))
        self.workers[slot] = worker
        self.started[slot] += 1
        return worker

    def _worker(self, slot: int):
        return self.workers[slot] if self.workers[slot] is not None else self._start(slot)

    def _died(self, slot: int, error: Exception, what: str) -> None:
        """Count a death of `slot`; stop the run with the cause when it keeps dying."""
        self.failures[slot] += 1
        self.workers[slot] = None
        if self.failures[slot] > self.cluster.max_worker_restarts:
            raise WorkerDied(f"rollout worker {slot} died {self.failures[slot]} times in a row "
                             f"(cluster.max_worker_restarts={self.cluster.max_worker_restarts}); last while {what}: "
                             f"{type(error).__name__}: {error}")
        self.restarts += 1
        log.warning("rollout worker %d died while %s (%s); replacing it and playing its seeds again",
                    slot, what, type(error).__name__)

    # ----- one step ---------------------------------------------------------------------------
    def plan(self, step: int) -> dict[int, list[tuple[int, list[int]]]]:
        """slot -> [(arena index, seeds)]: each arena's seeds in contiguous shares over the workers,
        or whole on worker (arena index mod workers) for an arena with phases."""
        n = len(self.workers)
        jobs: dict[int, list[tuple[int, list[int]]]] = defaultdict(list)
        for a, (arena, count) in enumerate(zip(self.arenas, self.counts)):
            seeds = [episode_seed(self.cfg.run.seed, step, a, i) for i in range(count)]
            if splits_by_seed(arena):
                for slot, share in enumerate(shares(seeds, n)):
                    if share:
                        jobs[slot].append((a, share))
            else:
                jobs[a % n].append((a, seeds))
        return dict(jobs)

    def launch(self, step: int) -> None:
        """Send step `step`'s seeds to the workers (returns at once)."""
        self.pending[step] = {slot: (self._play(slot, step, jobs), jobs) for slot, jobs in self.plan(step).items()}

    def _play(self, slot: int, step: int, jobs) -> tuple:
        """The worker's play call and its deadline (cluster.play_timeout_s; None: no deadline)."""
        limit = self.cluster.play_timeout_s
        return self._worker(slot).play.remote(step, jobs), None if limit is None else time.monotonic() + limit

    def _result(self, slot: int, call: tuple):
        """The play call's result; on its deadline the worker is killed (GetTimeoutError)."""
        import ray

        ref, deadline = call
        if deadline is None:
            return ray.get(ref)
        try:
            return ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except ray.exceptions.GetTimeoutError:
            ray.kill(self.workers[slot])
            raise

    def gather(self, step: int) -> tuple[list[Episode], float]:
        """Step `step`'s episodes in single-process order, replacing dead workers and replaying
        their seeds; also the longest time a worker spent playing."""
        import ray

        self._check_syncs()
        by_arena: dict[int, dict[int, list[Episode]]] = defaultdict(dict)
        longest = 0.0
        for slot, (call, jobs) in sorted(self.pending.pop(step).items()):
            while True:
                try:
                    results, states, seconds = self._result(slot, call)
                    break
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                        ray.exceptions.GetTimeoutError) as e:
                    if isinstance(e, ray.exceptions.GetTimeoutError):
                        e = TimeoutError(f"no result within cluster.play_timeout_s={self.cluster.play_timeout_s}")
                    self._died(slot, e, f"playing step {step}")
                    call = self._play(slot, step, jobs)
            self.failures[slot] = 0
            longest = max(longest, seconds)
            for (a, _), episodes in zip(jobs, results):
                by_arena[a][slot] = episodes
            for a, state in states.items():
                self.arenas[a].load_state_dict(state)
        episodes = [e for a in sorted(by_arena) for slot in sorted(by_arena[a]) for e in by_arena[a][slot]]
        return episodes, longest

    def collect(self, step: int) -> tuple[list[Episode], dict[str, float]]:
        """The trainer's rollout for `step` (the driver's arenas have run before_step(step)). With
        async_rollouts, step + 1 is sent before returning, to play during this update."""
        t0 = time.perf_counter()
        self.driver_step = step
        if step not in self.pending:
            self.launch(step)
        episodes, longest = self.gather(step)
        stats = summarize(episodes, time.perf_counter() - t0, self.cfg.sampling.overlong)
        for arena in self.arenas:
            stats.update(arena.metrics([e for e in episodes if e.arena == arena.name]))
        stale = [self.version - e.policy_version for e in episodes]
        stats.update({"rollout/staleness_mean": sum(stale) / max(len(stale), 1),
                      "rollout/staleness_max": float(max(stale, default=0)),
                      "perf/worker_play_s_max": longest, "cluster/worker_restarts": float(self.restarts),
                      **self._stats})
        if self.cluster.async_rollouts and step + 1 < self.cfg.run.steps:
            self.launch(step + 1)
        return episodes, stats

    # ----- weights ----------------------------------------------------------------------------
    def sync(self, model, version: int) -> dict[str, float]:
        """Broadcast the learner's weights after update `version` to every live worker (waits for
        them, unless async_rollouts: then they load it after the step they are playing)."""
        import ray

        t0 = time.perf_counter()
        self.version = version
        stats = {}
        if self.engine is not None:
            self.engine.load_weights(model)
            stats = self.engine.metrics()
        if self.cluster.weight_sync == "collective":
            self._sync_collective(model, version)
        else:
            ref = ray.put(model_weights(model, trainable_only=True))
            self.syncs += [(slot, w.sync.remote(ref, version)) for slot, w in enumerate(self.workers) if w is not None]
            if not self.cluster.async_rollouts:
                self._check_syncs()
        self._stats = {"perf/broadcast_s": time.perf_counter() - t0}
        return {**stats, **self._stats}

    def _sync_collective(self, model, version: int) -> None:
        """Broadcast through the process group (collective.py), formed again when a worker was
        replaced; a worker that dies during the broadcast is counted, and the rest are sent the
        weights again in a new group (the dead one's replacement starts from the current weights)."""
        import ray

        from sparring.cluster import collective

        params = [p for p in model.parameters() if p.requires_grad]
        while True:
            live = [slot for slot, w in enumerate(self.workers) if w is not None]
            if not live:
                return
            if self.group != tuple((slot, self.started[slot]) for slot in live):
                self._form_group(model, live)
                continue  # a member may have died while joining
            refs = [(slot, self.workers[slot].receive.remote(version)) for slot in live]
            try:
                collective.send(params, self._device)
                sent = True
            except RuntimeError as e:  # a member left mid-broadcast; its ray call says whether it died
                log.warning("weight broadcast failed (%s); forming the group again", str(e)[:200])
                collective.leave()  # closes our connections, so members still waiting on them fail now
                sent = False
            received = True
            for slot, ref in refs:
                try:
                    ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                    self._died(slot, e, "receiving weights")
                    received = False
                except ray.exceptions.RayTaskError:
                    received = False  # alive, but its side of a broken broadcast failed
            if sent and received:
                return
            self.group = None

    def _form_group(self, model, live: list[int]) -> None:
        import ray

        from sparring.cluster import collective

        on_gpu = torch.cuda.is_available() and self.cluster.worker_gpus > 0 and next(model.parameters()).is_cuda
        backend, self._device = ("nccl", "cuda") if on_gpu else ("gloo", "cpu")
        address, port = ray.util.get_node_ip_address(), collective.free_port()
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        refs = [(slot, self.workers[slot].join_group.remote(address, port, rank, len(live) + 1, backend, names))
                for rank, slot in enumerate(live, start=1)]
        collective.join(address, port, 0, len(live) + 1, backend)
        self.group = tuple((slot, self.started[slot]) for slot in live)
        for slot, ref in refs:
            try:
                ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                self._died(slot, e, "joining the weight-broadcast group")
                self.group = None

    def _check_syncs(self) -> None:
        import ray

        for slot, ref in self.syncs:
            try:
                ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                if self.workers[slot] is not None:
                    self._died(slot, e, "loading weights")
        self.syncs = []

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (starting any missing one)."""
        import ray

        return ray.get([self._worker(slot).pid.remote() for slot in range(len(self.workers))])

    def close(self) -> None:
        import ray

        for w in self.workers:
            if w is not None:
                ray.kill(w)
        self.workers = [None] * len(self.workers)
        if self.group is not None:
            from sparring.cluster import collective

            collective.leave()
            self.group = None
        if self.owns_ray:
            ray.shutdown()
