"""The trainer: builds the components from a config and runs the RL loop, one screen long.

    for step in range(start, steps):
        episodes = rollout.collect(arenas, step)        # arena -> episodes
        samples  = assigner.assign(episodes)            # per-role rewards -> advantages
        stats    = learner.update(batching.build(...))  # policy update of the one model
        engine.load_weights(learner.model)              # weights back to the rollout engine
        checkpoint / evaluate / log

A run directory that already holds a checkpoint resumes from the newest one: model, optimiser,
RAE baselines, RNG states and step counter, so a killed run continues where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from sparring.agents.hf_engine import HFEngine
from sparring.agents.models import TinySpec, load_model, load_tokenizer, resolve
from sparring.agents.opponents import build_opponent
from sparring.agents.policies import EnginePolicy, RandomPolicy
from sparring.agents.roles import seat_roles
from sparring.arenas import GameArena, InvalidActionRule
from sparring.config import ArenaConfig, ExperimentConfig, GameArenaConfig
from sparring.environments import make
from sparring.training import batching, checkpoint, rollout
from sparring.training.credit import AdvantageAssigner
from sparring.training.evaluate import evaluate_async
from sparring.training.learner import Learner
from sparring.training.metrics import MetricsLogger
from sparring.training.warm_start import run_sft, transcripts
from sparring.types import SamplingParams

log = logging.getLogger(__name__)


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
        self.roles = {a.name: seat_roles(a.game, make(a.game, **a.game_options).num_players, self.sampling, a.shared_role)
                      for a in self._game_arenas()}
        resume = checkpoint.latest(self.run_dir)
        self.warm_stats: dict[str, float] = {}
        model = self._initial_model(resume)
        self.learner = Learner(
            model, learning_rate=cfg.optim.learning_rate, weight_decay=cfg.optim.weight_decay, betas=cfg.optim.betas,
            grad_clip=cfg.optim.grad_clip, epochs=cfg.optim.epochs, warmup_steps=cfg.optim.warmup_steps,
            decay=cfg.optim.decay, decay_steps=cfg.run.steps, min_lr_ratio=cfg.optim.min_lr_ratio,
            temperature=cfg.sampling.temperature, clip_low=cfg.loss.clip_low, clip_high=cfg.loss.clip_high,
            aggregation=cfg.loss.aggregation, kl_coef=cfg.loss.kl_coef, entropy_coef=cfg.loss.entropy_coef,
        )
        self.engine = HFEngine(self.learner.model, self.tokenizer, max_batch_size=cfg.engine.max_batch_size)
        self.policy = EnginePolicy(self.engine)
        self.arenas = [(self._build_arena(i, a), a.episodes_per_step) for i, a in enumerate(cfg.arenas)]
        self.retry_penalty = {a.name: a.invalid_action.retry_penalty for a in cfg.arenas}
        self.assigner = AdvantageAssigner(cfg.advantages.estimator, cfg.advantages.per_role, cfg.advantages.rae_alpha, cfg.advantages.gamma,
                                          cfg.advantages.baseline, cfg.advantages.state_decay,
                                          cfg.advantages.return_discount, cfg.advantages.td_lambda)
        self.step = 0
        if resume is not None:
            self._restore(resume)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))

    # ----- the loop ---------------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        cfg, last = self.cfg, {}
        with MetricsLogger(self.run_dir / "metrics.jsonl", cfg.run.steps, self.show_progress) as metrics:
            metrics.advance_to(self.step)
            if self.step == 0 and (self.warm_stats or cfg.eval.at_start):
                metrics.log(0, {**self.warm_stats, **(self.evaluate() if cfg.eval.at_start else {})})
            for step in range(self.step, cfg.run.steps):
                t0 = time.perf_counter()
                self._hook("before_step", step)
                episodes, stats = rollout.collect(self.arenas, step, cfg.run.seed, self.loop)
                samples = self.assigner.assign(episodes, self.retry_penalty.__getitem__)
                stats.update(self.learner.update(batching.build(
                    samples, cfg.optim.micro_batch_size, self.engine.pad_id, cfg.optim.minibatches, seed=cfg.run.seed * 7919 + self.step)))
                self.engine.load_weights(self.learner.model)
                self.step = step + 1
                self._hook("after_update", self.step, self.learner.model)
                stats.update(_advantage_stats(samples))
                if cfg.eval.every and self.step % cfg.eval.every == 0:
                    stats.update(self.evaluate())
                if self.step % cfg.checkpoint.every == 0 or self.step == cfg.run.steps:
                    self.save()
                stats["perf/step_s"] = time.perf_counter() - t0
                metrics.log(self.step, stats, info=_progress_info(stats))
                last = stats
        return last

    # ----- evaluation -------------------------------------------------------------------------
    def evaluate(self, episodes_per_seat: int | None = None, temperature: float | None = None) -> dict[str, float]:
        cfg = self.cfg
        temp = cfg.eval.temperature if temperature is None else temperature
        greedy = EnginePolicy(self.engine, trainable=False, temperature=temp)
        out = {}
        for a in self._game_arenas():
            result = self.loop.run_until_complete(evaluate_async(
                greedy, RandomPolicy(seed=cfg.run.seed + 17), a.game, self.roles[a.name],
                episodes_per_seat or cfg.eval.episodes, a.game_options, _rule(a), "random"))
            out.update(result.metrics(f"eval/{a.name}/vs_random"))
        return out

    # ----- construction, checkpoints -----------------------------------------------------------
    def _game_arenas(self) -> list[GameArenaConfig]:
        return [a for a in self.cfg.arenas if a.kind == "game"]

    def _build_arena(self, index: int, a: ArenaConfig):
        if a.kind == "absolute_zero":
            from sparring.arenas.absolute_zero import build_arena

            return build_arena(a, self.policy, self.sampling, self.run_dir)
        opponent = build_opponent(a.opponent, game=a.game, game_options=a.game_options, seed=self.cfg.run.seed * 31 + index,
                                  dtype=self.cfg.model.dtype, max_batch_size=self.cfg.engine.max_batch_size,
                                  run_dir=self.run_dir / "opponents" / a.name,
                                  initial_model=self.learner.model, tokenizer=self.tokenizer)
        return GameArena(a.name, a.game, self.roles[a.name], self.policy, opponent, a.game_options, _rule(a), a.random_opening,
                         a.branches)

    def _stateful(self):
        """(key, object) for every arena and opponent that carries resumable state."""
        for arena, _ in self.arenas:
            for key, obj in ((f"arena/{arena.name}", arena), (f"opponent/{arena.name}", getattr(arena, "opponent", None))):
                if obj is not None and hasattr(obj, "state_dict"):
                    yield key, obj

    def _hook(self, name: str, *args) -> None:
        """Call an optional per-step hook on every arena and opponent that has it."""
        for arena, _ in self.arenas:
            for obj in (arena, getattr(arena, "opponent", None)):
                if obj is not None and hasattr(obj, name):
                    getattr(obj, name)(*args)

    def _initial_model(self, resume: Path | None):
        cfg = self.cfg
        start = self.base_path
        if cfg.warm_start.enabled:
            start = str(self._warm_start())
        if cfg.model.lora is None:
            return load_model(str(resume) if resume else start, cfg.model.dtype)
        model = load_model(start, cfg.model.dtype, lora=None if resume else cfg.model.lora.model_dump())
        if resume:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(resume), is_trainable=True)
        return model

    def _warm_start(self) -> Path:
        """Run the SFT format warm start once per run directory; later runs reuse its output."""
        out = self.run_dir / "warm_start"
        if (out / "config.json").exists():
            return out
        ws = self.cfg.warm_start
        model = load_model(self.base_path, self.cfg.model.dtype)
        rows = self._warm_start_rows(ws.examples)
        t0 = time.perf_counter()
        self.warm_stats = run_sft(model, self.tokenizer, rows, epochs=ws.epochs, learning_rate=ws.learning_rate,
                                  batch_size=ws.batch_size, seed=self.cfg.run.seed)
        self.warm_stats["perf/warm_start_s"] = time.perf_counter() - t0
        tmp = self.run_dir / ".warm_start_tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        os.replace(tmp, out)
        seed_everything(self.cfg.run.seed)  # RL starts from the same RNG state whether or not SFT ran now
        return out

    def _warm_start_rows(self, examples: int) -> list[dict]:
        """Format-only SFT rows (prompt/completion chat messages), split evenly over the arenas."""
        games = [(a.game, a.game_options, self.roles[a.name]) for a in self._game_arenas()]
        others = [a for a in self.cfg.arenas if a.kind != "game"]
        share = -(-examples // len(self.cfg.arenas))
        ws = self.cfg.warm_start
        rows = transcripts(games, share * len(games), self.cfg.run.seed, ws.keep, ws.games, ws.rollouts,
                           ws.unique, ws.play) if games else []
        for a in others:  # each non-game arena kind supplies its own format examples
            if a.kind == "absolute_zero":
                from sparring.arenas.absolute_zero import format_examples

                rows += format_examples(a, share, self.cfg.run.seed, self.sampling)
            else:
                raise ValueError(f"arena {a.name!r}: kind {a.kind!r} has no warm start")
        return rows

    def save(self) -> Path:
        state = {"advantages": self.assigner.state_dict(), "config": self.cfg.model_dump(mode="json")}
        learner_state = {**self.learner.state_dict(), "components": {k: obj.state_dict() for k, obj in self._stateful()}}
        return checkpoint.save(self.run_dir, self.step, self.learner.model, self.tokenizer, learner_state, state, self.cfg.checkpoint.keep)

    def _restore(self, path: Path) -> None:
        state, blob = checkpoint.load_state(path)
        self.step = int(state["step"])
        self.assigner.load_state_dict(state["advantages"])
        self.learner.load_state_dict(blob["learner"])
        saved = blob["learner"].get("components", {})
        for key, obj in self._stateful():
            if key in saved:
                obj.load_state_dict(saved[key])
        checkpoint.set_rng_state(blob["rng"])
        log.info("resumed from %s at step %d", path, self.step)

    def close(self) -> None:
        for arena, _ in self.arenas:
            for obj in (arena, getattr(arena, "opponent", None)):
                if hasattr(obj, "aclose"):
                    self.loop.run_until_complete(obj.aclose())
                elif isinstance(obj, EnginePolicy):
                    self.loop.run_until_complete(obj.engine.aclose())
        self.loop.run_until_complete(self.engine.aclose())
        self.loop.close()


def _rule(a: ArenaConfig) -> InvalidActionRule:
    return InvalidActionRule(**a.invalid_action.model_dump())


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
