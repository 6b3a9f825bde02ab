"""The trainer: builds the components from a config and runs the RL loop, one screen long.

    arena.prepare() for every arena                     # one-off work before the first step (seeding)
    for step in range(start, steps):
        arena.before_step(step) for every arena
        episodes = rollout.collect(step)                # arena -> episodes (this process, or Ray workers)
        samples  = assigner.assign(episodes)            # per-role rewards -> advantages
        stats    = learner.update(batching.build(...))  # policy update of the one model
        rollout.sync(learner.model, step + 1)           # weights back to the rollout engine(s)
        arena.after_update(step + 1, model) for every arena
        evaluate (arena.evaluate) / checkpoint / log

Arenas, the engine and the estimators come from their registries by name; this file names no
arena kind. A run directory that already holds a checkpoint resumes from the newest one: model,
optimiser, estimator state (RAE baselines), arena state (opponents, buffers), RNG states and step
counter, so a killed run continues where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from sparring.agents.engines import make_engine
from sparring.agents.models import TinySpec, load_model, load_tokenizer, resolve
from sparring.agents.policies import EnginePolicy
from sparring.arenas import ArenaContext, arena_class, build_arena
from sparring.cluster import ClusterRollout, connect
from sparring.config import ConfigError, EngineConfig, EvalConfig, ExperimentConfig
from sparring.training import batching, checkpoint, rollout
from sparring.training.average_policy import AveragePolicy
from sparring.training.credit import AdvantageAssigner
from sparring.training.critic import Critic
from sparring.training.learner import Learner
from sparring.training.metric_sinks import open_sinks
from sparring.training.metrics import MetricsLogger, log_sizes, truncate_logs
from sparring.training.samples_log import write_samples
from sparring.training.warm_start import run_sft
from sparring.types import SamplingParams

log = logging.getLogger(__name__)
WARM_START_RECIPE = "sparring_warm_start.json"  # the settings a run directory's warm start was made by


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg: ExperimentConfig, show_progress: bool = True) -> None:
        self.cfg = cfg
        self.show_progress = show_progress
        self.run_dir = Path(cfg.run.output_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        seed_everything(cfg.run.seed)
        self.loop = asyncio.new_event_loop()
        self.sampling = SamplingParams(cfg.sampling.max_new_tokens, cfg.sampling.temperature, cfg.sampling.top_p)
        self.base_path = resolve(cfg.model.name, TinySpec(**cfg.model.tiny.model_dump()))
        self.tokenizer = load_tokenizer(self.base_path)
        resume = checkpoint.latest(self.run_dir)
        if resume is not None:
            _same_run(cfg, resume)
        self.warm_stats: dict[str, float] = {}
        model = self._initial_model(resume)
        critic = self._critic(model) if cfg.uses_critic() else None
        self.learner = Learner(model, cfg.optim, cfg.loss, temperature=cfg.sampling.temperature, total_steps=cfg.run.steps,
                               critic=critic, critic_cfg=cfg.critic, reference=self._resumed_reference(resume))
        self.engine = make_engine(self._driver_engine(), self.learner.model, self.tokenizer)
        self.policy = EnginePolicy(self.engine)
        owns_ray = cfg.cluster is not None and connect(cfg.cluster)  # before the arenas: sandbox actors
        self.arenas = [build_arena(a, self._context(i)) for i, a in enumerate(cfg.arenas)]
        self.counts = [a.episodes_per_step for a in cfg.arenas]
        values = None if critic is None else functools.partial(critic.values, batch_size=cfg.optim.micro_batch_size)
        self.assigner = AdvantageAssigner(cfg.advantages, cfg.credit, cfg.sampling.overlong, values=values)
        ap = cfg.average_policy
        self.average = AveragePolicy(ap.capacity, ap.start_step, cfg.run.seed) if ap.enabled else None
        self.step = 0
        if resume is not None:
            self._restore(resume)
        if cfg.cluster is None:
            self.rollout = rollout.LocalRollout(list(zip(self.arenas, self.counts)), self.engine, self.loop,
                                                cfg.run.seed, cfg.sampling.overlong, self.step)
        else:
            self.rollout = ClusterRollout(cfg, self.arenas, self.counts, self.learner.model, self.step, self.engine,
                                          owns_ray)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))

    # ----- the loop ---------------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        cfg, last = self.cfg, {}
        prepared = self.prepare()  # before the progress bar: an arena's one-off work may show its own
        sinks = open_sinks(cfg.metrics, self.run_dir, cfg.run.name, self.step)
        with MetricsLogger(self.logs["metrics"], cfg.run.steps, self.show_progress, sinks) as metrics:
            metrics.advance_to(self.step)
            if self.step == 0 and (self.warm_stats or prepared or cfg.eval.at_start):
                metrics.log(0, {**self.warm_stats, **prepared, **(self.evaluate() if cfg.eval.at_start else {})})
            for step in range(self.step, cfg.run.steps):
                t0 = time.perf_counter()
                for arena in self.arenas:
                    arena.before_step(step)
                episodes, stats = self.rollout.collect(step)
                if self.average is not None:
                    self.average.observe(episodes, step)
                self.engine.pause()  # before the critic's forward passes: a sleeping vLLM frees the GPU
                samples = self.assigner.assign(episodes)
                stats.update(self.assigner.critic_stats)
                write_samples(self.logs["samples"], step + 1, episodes, samples, self.tokenizer,
                              cfg.metrics.samples_per_step)
                stats.update(self.learner.update(batching.build(
                    samples, cfg.optim.micro_batch_size, self.engine.pad_id, cfg.optim.minibatches, seed=cfg.run.seed * 7919 + self.step)))
                stats.update(self.rollout.sync(self.learner.model, step + 1))
                self.step = step + 1
                if cfg.loss.ref_update_every and self.step % cfg.loss.ref_update_every == 0:
                    self.learner.update_reference()
                for arena in self.arenas:
                    arena.after_update(self.step, self.learner.model)
                stats.update(_advantage_stats(samples))
                if cfg.eval.every and self.step % cfg.eval.every == 0:
                    stats.update(self.evaluate())
                if self.step == cfg.run.steps and self.average is not None:
                    stats.update(self.finish_average())
                stats["perf/step_s"] = time.perf_counter() - t0
                metrics.log(self.step, stats, info=_progress_info(stats))  # before the checkpoint that covers it
                last = stats
                if self.step % cfg.checkpoint.every == 0 or self.step == cfg.run.steps:
                    self.save()
            if (self.average is not None and self.average.rows and self.step == cfg.run.steps
                    and not saved_model(self.run_dir / "average")):
                last = self.finish_average()  # a last checkpoint written before the fit (older runs)
                metrics.log(self.step, last)
        return last

    def prepare(self) -> dict[str, float]:
        """Every arena's one-off work before its first step (`Arena.prepare`); their metrics."""
        out: dict[str, float] = {}
        for arena in self.arenas:
            out.update(self.loop.run_until_complete(arena.prepare(self.show_progress)))
        return out

    def finish_average(self) -> dict[str, float]:
        """Fit self-play's average policy to the reservoir, save it to <run dir>/average and
        evaluate it as the arenas evaluate the last iterate (its metrics under `average/`)."""
        ap = self.cfg.average_policy
        if not self.average.rows:  # no valid answer since start_step: nothing to average, not a lost run
            log.warning("average_policy: no valid trained answer from step %d on; no average policy fitted",
                        ap.start_step)
            return {"average/reservoir": 0.0}
        average, stats = self.average.distill(self.learner.model, epochs=ap.epochs, learning_rate=ap.learning_rate,
                                              batch_size=ap.batch_size, temperature=self.cfg.sampling.temperature,
                                              pad_id=self.engine.pad_id, seed=self.cfg.run.seed)
        self._save_model(average, self.run_dir / "average")
        with self.using_weights(average):
            stats.update({f"average/{k}": v for k, v in self.evaluate().items()})
        return stats

    @contextlib.contextmanager
    def using_weights(self, model):
        """Inside the block the learner's model and the engine hold `model`'s weights (a model of
        the same shape, e.g. <run dir>/average), so anything that plays through the engine plays
        it; the run's own weights are back after the block, even if it raises."""
        live = {k: v.detach().clone() for k, v in self.learner.model.state_dict().items()}
        self.learner.model.load_state_dict(model.state_dict())
        self.rollout.sync(self.learner.model, self.step)
        try:
            yield
        finally:
            self.learner.model.load_state_dict(live)
            self.rollout.sync(self.learner.model, self.step)

    # ----- evaluation -------------------------------------------------------------------------
    def evaluate(self, episodes: int | None = None, temperature: float | None = None) -> dict[str, float]:
        """Every arena's own evaluation (`Arena.evaluate`), with `eval` settings optionally overridden."""
        update = {k: v for k, v in (("episodes", episodes), ("temperature", temperature)) if v is not None}
        settings = EvalConfig(**{**self.cfg.eval.model_dump(), **update})
        out: dict[str, float] = {}
        for arena in self.arenas:
            out.update(self.loop.run_until_complete(arena.evaluate(settings)))
        return out

    # ----- construction, checkpoints -----------------------------------------------------------
    def _context(self, index: int) -> ArenaContext:
        return ArenaContext(policy=self.policy, engine=self.engine, tokenizer=self.tokenizer, sampling=self.sampling,
                            seed=self.cfg.run.seed, index=index, run_dir=self.run_dir, model=self.learner.model,
                            model_config=self.cfg.model, engine_config=self.cfg.engine, cluster=self.cfg.cluster)

    def _driver_engine(self) -> EngineConfig:
        """`engine:` as configured; with `cluster:` the rollout workers run it and this process keeps
        an HF engine on the learner's own weights (evaluation, arenas' prepare), which costs no
        memory, where a second vLLM would hold a KV cache on the learner's GPU."""
        cfg = self.cfg.engine
        if self.cfg.cluster is None or cfg.backend == "hf":
            return cfg
        return EngineConfig(max_batch_size=cfg.max_batch_size, stop_tokens=cfg.stop_tokens,
                            seeded_sampling=cfg.seeded_sampling)

    def _initial_model(self, resume: Path | None):
        cfg = self.cfg
        start = self.base_path
        if cfg.warm_start.enabled:
            start = str(self._warm_start())
        if cfg.model.lora is None:
            model = load_model(str(resume) if resume else start, cfg.model.dtype, device=cfg.model.device)
        else:
            model = load_model(start, cfg.model.dtype, lora=None if resume else cfg.model.lora.model_dump(),
                               device=cfg.model.device)
            if resume:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(resume), is_trainable=True)
        return self._checkpointing(model)

    def _resumed_reference(self, resume: Path | None):
        """The KL reference of a resumed full fine-tuning run: the starting weights again, not the
        checkpoint's. None where the learner's own copy serves: no KL, LoRA, or a moved reference
        (`loss.ref_update_every`), which the learner then loads from the checkpoint."""
        cfg = self.cfg
        if resume is None or not cfg.loss.kl_coef or cfg.model.lora is not None or cfg.loss.ref_update_every:
            return None
        # as the fresh run's reference (a copy of the policy): checkpointing picks the log-prob path
        return self._checkpointing(load_model(str(self._start_path()), cfg.model.dtype, device=cfg.model.device))

    def _checkpointing(self, model):
        """`model` with gradient checkpointing on where the config asks for it."""
        if self.cfg.model.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model

    def _critic(self, model) -> Critic:
        """The value head, on the policy model or on its own copy of the starting weights
        (`critic.model: separate`: the base model, or the warm start's output when there is one)."""
        separate = None
        if self.cfg.critic.model == "separate":
            separate = load_model(str(self._start_path()), self.cfg.model.dtype, device=self.cfg.model.device)
        return Critic(model, self.cfg.critic.model, separate)

    def _start_path(self) -> Path | str:
        """The weights RL starts from: the warm start's output, or the base model."""
        return self.run_dir / "warm_start" if self.cfg.warm_start.enabled else self.base_path

    def _warm_start(self) -> Path:
        """Run the SFT warm start once per run directory; later runs reuse its output."""
        out = self.run_dir / "warm_start"
        if (out / "config.json").exists():
            self._check_warm_start_recipe(out)
            return out
        ws = self.cfg.warm_start
        model = load_model(self.base_path, "float32", device=self.cfg.model.device)  # SFT steps float32 weights
        rows = self._warm_start_rows()
        t0 = time.perf_counter()
        self.warm_stats = run_sft(model, self.tokenizer, rows, epochs=ws.epochs, learning_rate=ws.learning_rate,
                                  batch_size=ws.batch_size, seed=self.cfg.run.seed,
                                  bf16=self.cfg.model.dtype == "bfloat16")
        self.warm_stats["perf/warm_start_s"] = time.perf_counter() - t0
        self._save_model(model, out, {WARM_START_RECIPE: json.dumps(self._warm_start_recipe(), indent=1)})
        seed_everything(self.cfg.run.seed)  # RL starts from the same RNG state whether or not SFT ran now
        return out

    def _warm_start_recipe(self) -> dict:
        """What the warm start's weights depend on most: its settings, the run seed and the base model.
        (The arenas' prompts shape its rows too; arena settings are left out, since most of them,
        episodes or opponents, do not.)"""
        m = self.cfg.model
        return {"warm_start": self.cfg.warm_start.model_dump(mode="json"), "run.seed": self.cfg.run.seed,
                "model.name": m.name, "model.tiny": m.tiny.model_dump(mode="json") if m.name == "tiny" else None}

    def _check_warm_start_recipe(self, out: Path) -> None:
        """A warm start left in the run directory is reused only if it was made by these settings:
        changing `warm_start.examples` and rerunning must not silently train from the old one.
        (A warm start without the recipe file, copied in by hand, is taken as it is.)"""
        path = out / WARM_START_RECIPE
        if not path.exists():
            return
        made, asked = _flatten(json.loads(path.read_text())), _flatten(self._warm_start_recipe())
        changed = [f"{k}: {made.get(k)!r} there, {asked.get(k)!r} in the config"
                   for k in sorted(set(made) | set(asked)) if made.get(k) != asked.get(k)]
        if changed:
            raise ValueError(f"{out} was made by other settings ({'; '.join(changed)}): delete it to run the "
                             f"warm start again, or use another run.output_dir")

    def _save_model(self, model, out: Path, extra: dict[str, str] | None = None) -> None:
        """`model`, the tokenizer and `extra` files (name -> text) to `out`, written beside it first:
        a kill leaves the old or the new."""
        tmp = out.with_name(f".{out.name}_tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)

    def _warm_start_rows(self) -> list[dict]:
        """SFT rows from every arena kind's `warm_start_rows` hook, `examples` split evenly."""
        ws = self.cfg.warm_start
        share = -(-ws.examples // len(self.cfg.arenas))
        rows: list[dict] = []
        for i, a in enumerate(self.cfg.arenas):
            ctx = ArenaContext(policy=None, engine=None, tokenizer=self.tokenizer, sampling=self.sampling,
                               seed=self.cfg.run.seed, index=i, run_dir=self.run_dir, model_config=self.cfg.model,
                               engine_config=self.cfg.engine)
            mine = arena_class(a.kind).warm_start_rows(a, ctx, ws, share)
            if not mine:
                log.warning("arena %r (kind %r) supplies no warm-start rows", a.name, a.kind)
            rows += mine
        if not rows:
            raise ValueError("warm_start.enabled: no arena supplies warm-start rows "
                             f"(kinds {sorted({a.kind for a in self.cfg.arenas})})")
        if len({isinstance(r["prompt"], str) for r in rows}) > 1:  # TRL takes one dataset format
            raise ValueError("warm_start.enabled: the arenas' prompts mix chat messages and plain text "
                             "(`prompt.style`); one supervised warm start needs one style in every arena")
        return rows

    @property
    def logs(self) -> dict[str, Path]:
        """The run's append-only logs; a checkpoint records their sizes, a resume cuts them back."""
        return {"metrics": self.run_dir / "metrics.jsonl", "samples": self.run_dir / "samples.jsonl"}

    def save(self) -> Path:
        state = {"advantages": self.assigner.state_dict(), "config": self.cfg.model_dump(mode="json"),
                 "log_bytes": log_sizes(self.logs)}
        components = {f"arena/{arena.name}": arena.state_dict() for arena in self.arenas}
        if self.average is not None:
            components["average_policy"] = self.average.state_dict()
        learner_state = {**self.learner.state_dict(), "components": {k: v for k, v in components.items() if v is not None}}
        return checkpoint.save(self.run_dir, self.step, self.learner.model, self.tokenizer, learner_state, state, self.cfg.checkpoint.keep)

    def _restore(self, path: Path) -> None:
        state, blob = checkpoint.load_state(path)
        self.step = int(state["step"])
        truncate_logs(self.logs, state.get("log_bytes", {}))  # checkpoints before 2026-12-06 have none
        self.assigner.load_state_dict(state["advantages"])
        self.learner.load_state_dict(blob["learner"])
        saved = blob["learner"].get("components", {})
        if self.average is not None and "average_policy" in saved:
            self.average.load_state_dict(saved["average_policy"])
        for arena in self.arenas:
            state = saved.get(f"arena/{arena.name}")
            if f"opponent/{arena.name}" in saved:  # checkpoints from before the arena API kept opponents apart
                state = {**(state or {}), "opponent": saved[f"opponent/{arena.name}"]}
            if state is not None:
                arena.load_state_dict(state)
        checkpoint.set_rng_state(blob["rng"])
        log.info("resumed from %s at step %d", path, self.step)

    def close(self) -> None:
        self.rollout.close()
        for arena in self.arenas:
            self.loop.run_until_complete(arena.aclose())
        self.loop.run_until_complete(self.engine.aclose())
        self.loop.close()


def _same_run(cfg: ExperimentConfig, resume: Path) -> None:
    """A run directory resumes only the run it holds: the same model and arenas (kind and name),
    else a ConfigError naming what differs. Other settings may change on resume (steps, learning
    rate, ...); a changed arena setting is logged as a warning, key by key."""
    saved = json.loads((resume / checkpoint.STATE_FILE).read_text()).get("config")
    if saved is None:
        return
    now = cfg.model_dump(mode="json")

    def identity(config: dict) -> dict:
        return {"model.name": config["model"]["name"], "arenas": [(a["kind"], a["name"]) for a in config["arenas"]]}

    old, new = identity(saved), identity(now)
    if old != new:
        changed = "; ".join(f"{k}: {old[k]} in the checkpoint, {new[k]} now" for k in old if old[k] != new[k])
        raise ConfigError(f"run.output_dir {cfg.run.output_dir} holds another run ({changed}); resuming it would "
                          f"train the checkpoint {resume.name} on this config: use another run.output_dir")
    before, after = ({str(i): a for i, a in enumerate(c["arenas"])} for c in (saved, now))
    before, after = _flatten(before, "arenas."), _flatten(after, "arenas.")
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            log.warning("resuming %s with %s = %r (the checkpoint's run had %r)", resume, key, after.get(key),
                        before.get(key))


def saved_model(path: Path) -> bool:
    """Whether `path` holds a saved model (full weights or a LoRA adapter)."""
    return (path / "config.json").exists() or (path / "adapter_config.json").exists()


def _advantage_stats(samples) -> dict[str, float]:
    by_role: dict[str, list[float]] = {}
    for s in samples:
        by_role.setdefault(s.role, []).append(s.advantage)
    out = {}
    for role, values in by_role.items():
        t = torch.tensor(values)
        out[f"adv/{role}/mean"] = t.mean().item()
        out[f"adv/{role}/std"] = t.std().item() if len(values) > 1 else 0.0
    out["rollout/samples"] = float(len(samples))
    return out


def _progress_info(stats: dict[str, float]) -> str:
    rewards = [f"{k.split('/', 1)[1]}={v:+.2f}" for k, v in stats.items() if k.startswith("reward/")]
    evals = [f"{k.split('/')[1]} vs random={v:+.3f}" for k, v in stats.items() if k.endswith("vs_random/mean_payoff")]
    return " ".join(rewards[:4] + [f"invalid={stats.get('rollout/invalid_rate', 0):.2f}"] + evals)


def _flatten(tree: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
