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
        self.pending: dict[int, dict[int, tuple]] = {}  # step -> slot -> ((worker, play ref, deadline), jobs)
        self.syncs: list[tuple] = []  # (slot, worker, sync ref) not yet checked
        self._full: tuple | None = None  # (version, ref of the full state dict) for workers starting
        self.started = [0] * self.cluster.rollout_workers  # actors started per slot (a replacement is new)
        self.group: tuple | None = None  # weight_sync collective: the (slot, start) members of the group

    # ----- workers ----------------------------------------------------------------------------
    def _start(self, slot: int):
        states = {a.name: s for a in self.arenas if (s := a.state_dict()) is not None}
        worker = self._remote.remote(self.cfg.model_dump(mode="json"), slot, self._full_weights(), self.version,
                                     states, self.driver_step, list(sys.path))
        self.workers[slot] = worker
        self.started[slot] += 1
        return worker

    def _full_weights(self):
        """The full state dict in the object store, put once per weight version for every worker
        started on it."""
        import ray

        if self._full is None or self._full[0] != self.version:
            self._full = (self.version, ray.put(model_weights(self.model, trainable_only=False)))
        return self._full[1]

    def _ready(self, slots) -> None:
        """Start the missing workers of `slots` (in parallel) and wait until each has built its model,
        engine and arenas, so a play deadline counts play time only; one that dies starting is
        counted and started again."""
        import ray

        while missing := [slot for slot in slots if self.workers[slot] is None]:
            calls = [(slot, self._start(slot)) for slot in missing]
            for slot, worker in calls:
                try:
                    ray.get(worker.pid.remote())
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                    self._died(slot, worker, e, "starting")

    def _died(self, slot: int, worker, error: Exception, what: str) -> None:
        """Count the death of `worker` (once: nothing when `slot` has moved on to another actor) and
        kill what is left of it; stop the run with the cause when the slot keeps dying."""
        import ray

        if self.workers[slot] is not worker:
            return
        try:
            ray.kill(worker)  # an unreachable actor may still hold its CPUs / GPU
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.failures[slot] += 1
        self.workers[slot] = None
        if self.failures[slot] > self.cluster.max_worker_restarts:
            raise WorkerDied(f"rollout worker {slot} died {self.failures[slot]} times in a row "
                             f"(cluster.max_worker_restarts={self.cluster.max_worker_restarts}); last while {what}: "
                             f"{type(error).__name__}: {error}")
        self.restarts += 1
        log.warning("rollout worker %d died while %s (%s); replacing it", slot, what, type(error).__name__)

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
        """Send step `step`'s seeds to the workers (returns once they are started)."""
        plan = self.plan(step)
        self._ready(list(plan))
        self.pending[step] = {slot: (self._play(slot, step, jobs), jobs) for slot, jobs in plan.items()}

    def _play(self, slot: int, step: int, jobs) -> tuple:
        """(worker, its play call, the call's deadline: cluster.play_timeout_s from now, or None)."""
        worker = self.workers[slot]
        return worker, worker.play.remote(step, jobs), self._deadline()

    def _deadline(self) -> float | None:
        """When a call sent now is overdue (cluster.play_timeout_s); None: never."""
        limit = self.cluster.play_timeout_s
        return None if limit is None else time.monotonic() + limit

    def _wait(self, slot: int, call: tuple, what: str):
        """The call's result, or None after counting its worker's death; a worker past the deadline
        is killed and counted dead."""
        import ray

        worker, ref, deadline = call
        try:
            if deadline is None:
                return ray.get(ref)
            return ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except ray.exceptions.GetTimeoutError:
            error = TimeoutError(f"no result within cluster.play_timeout_s={self.cluster.play_timeout_s}")
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
            error = e
        self._died(slot, worker, error, what)
        return None

    def gather(self, step: int) -> tuple[list[Episode], float]:
        """Step `step`'s episodes in single-process order, replacing dead or overdue workers and
        replaying their seeds as soon as any call fails (`ray.wait` over all of them); also the
        longest time a worker spent playing."""
        import ray

        waiting = dict(self.pending.pop(step))  # slot -> ((worker, ref, deadline), jobs)
        done: dict[int, tuple] = {}
        while waiting:
            slots = {call[1]: slot for slot, (call, _) in waiting.items()}
            deadlines = [call[2] for call, _ in waiting.values() if call[2] is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready, _ = ray.wait(list(slots), num_returns=1, timeout=timeout)
            now = time.monotonic()
            due = [slots[ref] for ref in ready] or [s for s, (call, _) in waiting.items()
                                                   if call[2] is not None and call[2] <= now]
            for slot in due:
                call, jobs = waiting[slot]
                result = self._wait(slot, call, f"playing step {step}")
                if result is None:  # counted dead (or killed overdue): its seeds go to a replacement
                    self._ready([slot])
                    waiting[slot] = (self._play(slot, step, jobs), jobs)
                else:
                    done[slot] = (result, jobs)
                    del waiting[slot]
        by_arena: dict[int, dict[int, list[Episode]]] = defaultdict(dict)
        longest = 0.0
        for slot, ((results, states, seconds), jobs) in sorted(done.items()):
            self.failures[slot] = 0
            longest = max(longest, seconds)
            for (a, _), episodes in zip(jobs, results):
                by_arena[a][slot] = episodes
            for a, state in states.items():
                self.arenas[a].load_state_dict(state)
        self._check_syncs()  # after the plays: under async_rollouts a sync waits behind one
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
                      "perf/worker_play_s_max": longest, "cluster/worker_restarts": float(self.restarts)})
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
            self.syncs += [(slot, w, w.sync.remote(ref, version)) for slot, w in enumerate(self.workers)
                           if w is not None]
            if not self.cluster.async_rollouts:
                self._check_syncs()
        return {**stats, "perf/broadcast_s": time.perf_counter() - t0}

    def _sync_collective(self, model, version: int) -> None:
        """Broadcast through the process group (collective.py), formed again when a worker was
        replaced. A broadcast that fails because a member died is counted and sent again to the
        rest in a new group (the dead one's replacement starts from the current weights); one that
        fails with every member alive is an error, raised."""
        import ray

        from sparring.cluster import collective

        params = [p for p in model.parameters() if p.requires_grad]
        while live := [slot for slot, w in enumerate(self.workers) if w is not None]:
            if self.group != tuple((slot, self.started[slot]) for slot in live) and not self._form_group(model, live):
                continue  # a member died while joining (counted): form the group of the rest
            members = [(slot, self.workers[slot]) for slot in live]
            if not self._all_answer([(slot, w, w.pid.remote()) for slot, w in members], "waiting for weights"):
                continue  # a member died since the last step: without it, a broadcast would wait out the timeout
            calls = [(slot, w, w.receive.remote(version)) for slot, w in members]
            error = None
            try:
                collective.send(params, self._device)
            except RuntimeError as e:  # a member left mid-broadcast, or something else: its ray call says
                error = e
                collective.leave()  # closes our connections, so members still waiting on them fail now
                self.group = None
            deaths = 0
            for slot, worker, ref in calls:
                try:
                    ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                    self._died(slot, worker, e, "receiving weights")
                    deaths += 1
                except ray.exceptions.RayTaskError as e:
                    error = error or e
            if error is None:
                return
            if not deaths:
                raise RuntimeError(f"weight broadcast failed with every worker alive: {error}") from error
            log.warning("weight broadcast lost %d worker(s); sending again to the rest", deaths)
            self.group = None

    def _form_group(self, model, live: list[int]) -> bool:
        """Form the group of the driver and the `live` workers; False when one died joining (counted).
        The workers first check that they hold every broadcast parameter, shape and dtype, so a
        mismatch is an error naming them, not a rendezvous that never completes."""
        import ray

        from sparring.cluster import collective

        collective.leave()
        self.group = None
        on_gpu = torch.cuda.is_available() and self.cluster.worker_gpus > 0 and next(model.parameters()).is_cuda
        backend, self._device = ("nccl", "cuda") if on_gpu else ("gloo", "cpu")
        layout = [(n, tuple(p.shape), str(p.dtype)) for n, p in model.named_parameters() if p.requires_grad]
        workers = [(slot, self.workers[slot]) for slot in live]
        if not self._all_answer([(slot, w, w.check_layout.remote(layout)) for slot, w in workers], "joining"):
            return False
        address, port = ray.util.get_node_ip_address(), collective.free_port()
        calls = [(slot, w, w.join_group.remote(address, port, rank, len(live) + 1, backend, [n for n, *_ in layout]))
                 for rank, (slot, w) in enumerate(workers, start=1)]
        try:
            collective.join(address, port, 0, len(live) + 1, backend)
        except RuntimeError:  # the rendezvous timed out: a member never came
            collective.leave()
            self._all_answer(calls, "joining the weight-broadcast group")
            return False
        if not self._all_answer(calls, "joining the weight-broadcast group"):
            collective.leave()
            return False
        self.group = tuple((slot, self.started[slot]) for slot in live)
        return True

    def _all_answer(self, calls: list[tuple], what: str) -> bool:
        """Wait for every (slot, worker, ref); count the dead; True when none died."""
        import ray

        alive = True
        for slot, worker, ref in calls:
            try:
                ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                self._died(slot, worker, e, what)
                alive = False
        return alive

    def _check_syncs(self) -> None:
        """Wait for the weight loads sent so far (as long as a play may take); a worker that died or
        overran is counted, once, and replaced at the next launch."""
        for slot, worker, ref in self.syncs:
            self._wait(slot, (worker, ref, self._deadline()), "loading weights")
        self.syncs = []

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (starting any missing one)."""
        import ray

        self._ready(range(len(self.workers)))
        return ray.get([w.pid.remote() for w in self.workers])

    def close(self) -> None:
        import ray

        live = [w for w in self.workers if w is not None]
        ray.wait([w.close.remote() for w in live], num_returns=len(live), timeout=10)  # arenas, temp dirs
        for w in live:
            ray.kill(w)
        self.workers = [None] * len(self.workers)
        if self.group is not None:
            from sparring.cluster import collective

            collective.leave()
            self.group = None
        if self.owns_ray:
            ray.shutdown()
