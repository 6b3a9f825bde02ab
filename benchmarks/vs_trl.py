"""One RL step of sparring against one step of TRL's GRPOTrainer, same task, same work, timed side by side.

The task is single-turn: a TicTacToe position (random opening) and one move to make, scored by
sparring.integrations.trl.GameTask (the move's return, random play-outs after it, -1 for an
invalid answer). TRL trains on `task.dataset(...)` with `task.reward`; sparring trains on the
same pool of positions through its public path (config dict -> load_config -> Trainer) with a
small arena kind registered here (`trl_positions`): one episode per sampled answer, the answers
to one position forming a GRPO group, each scored by the same `task.score`.

Both sides: the same model weights (one directory, loaded twice), prompts per step, completions
per prompt, completion cap, temperature 1, top-p 1, top-k off, HF `generate` (sparring's `hf`
engine; TRL without vLLM), GRPO advantages (group mean and std), PPO clip 0.2 / 0.28, token-mean
loss over the whole batch, no KL, one forward/backward micro-batch holding the whole batch, one
AdamW step at a constant learning rate, grad-norm clip 1, float32 on the CPU, no checkpoints.
What still differs is printed before the timings.

Timing alternates: TRL runs its steps in one `train()` call, and after each of its steps a
callback runs one sparring step (`Trainer.train()` with `run.steps` raised by one), so both see
the same machine state. The first step of each side is warm-up and excluded; medians are taken.
TRL's step is timed from its `on_step_begin` to its `on_step_end` callback (generation, reward,
forward/backward and the optimizer step; not its dataloader fetch or logging); sparring's is the
whole `train()` call for one step (rollout, advantages, update, metrics line). Both sides share
one process and run torch on `--threads` threads (default 1: on a shared 2-core machine two
threads stall whenever another process takes a core, which swamped the medians). Last line:
`sparring_over_trl_step_speed=X` = TRL median step time / sparring median step time (goal >= 1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import Field  # noqa: E402

from sparring.agents.models import TinySpec, load_model, load_tokenizer, resolve  # noqa: E402
from sparring.agents.prompting import PromptConfig, build_role  # noqa: E402
from sparring.arenas import Arena, register_arena  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.config import ArenaConfig, load_config  # noqa: E402
from sparring.integrations.trl import GameTask  # noqa: E402
from sparring.types import Episode  # noqa: E402

SMOKE_SPEC = dict(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)


# ----- sparring's side: the adapter's positions as a small arena kind ---------------------------
class PositionsConfig(ArenaConfig):
    kind: str = "trl_positions"
    """Arena kind."""
    game: str = "tictactoe"
    """Registered game whose positions are the prompts."""
    game_options: dict = {}
    """Game constructor options."""
    samples: int = Field(8, ge=2)
    """Answers per position (one GRPO group)."""
    pool: int = Field(256, ge=1)
    """Positions in the pool the steps cycle through (GameTask.rows(pool, seed))."""
    max_opening: int = Field(4, ge=0)
    """Random opening moves before a position (0..max_opening)."""
    playouts: int = Field(8, ge=1)
    """Random play-outs that score a move that does not end the game."""
    invalid_penalty: float = -1.0
    """Reward of an invalid answer."""
    prompt: PromptConfig = PromptConfig()
    """Prompt style and answer format."""


@register_arena("trl_positions")
class PositionsArena(Arena):
    """Each episode seed takes the next position of the pool; `samples` answers to it, scored alone."""

    config_model = PositionsConfig

    def __init__(self, cfg: PositionsConfig, policy, task: GameTask) -> None:
        self.cfg, self.name, self.policy, self.task = cfg, cfg.name, policy, task
        self.rows = task.rows(cfg.pool)

    @classmethod
    def from_config(cls, cfg: PositionsConfig, ctx) -> PositionsArena:
        role = build_role(cfg.prompt, f"{cfg.game}/player", ctx.sampling, ctx.tokenizer)
        task = GameTask(cfg.game, game_options=cfg.game_options, role=role, tokenizer=ctx.tokenizer,
                        invalid_penalty=cfg.invalid_penalty, playouts=cfg.playouts, max_opening=cfg.max_opening)
        return cls(cfg, ctx.policy, task)

    async def play_step(self, step: int, seeds: list[int]) -> list[Episode]:
        rows = [self.rows[(step * len(seeds) + i) % len(self.rows)] for i in range(len(seeds))]
        asks = []
        for row in rows:
            history = json.loads(row["history"])
            state = self.task.position(row["seed"], history)
            asks += [(row, history, state.observation(state.current_player), state.legal_actions())] * self.cfg.samples
        turns = await asyncio.gather(*[self.policy.act(self.task.role, 0, obs, legal) for _, _, obs, legal in asks])
        episodes = []
        for (row, history, _, _), turn in zip(asks, turns):
            reward = self.task.score(turn.text, row["seed"], history, completion_ids=turn.completion_ids)
            episodes.append(Episode(self.name, "move", row["seed"], [turn], [reward], [self.task.role.name],
                                    forfeit=0 if turn.action is None else None, group=(row["seed"], row["history"])))
        return episodes


def sparring_trainer(model_path: str, args, out_dir: str):
    from sparring.training.trainer import Trainer

    data = {
        "run": {"name": "vs_trl", "output_dir": out_dir, "seed": args.seed, "steps": 0},
        "model": {"name": model_path, "device": "cpu", "dtype": "float32"},
        "engine": {"backend": "hf", "max_batch_size": 1024},
        "sampling": {"max_new_tokens": args.max_tokens, "temperature": args.temperature, "top_p": 1.0},
        "arenas": [{"kind": "trl_positions", "name": "positions", "episodes_per_step": args.prompts,
                    "samples": args.group, "pool": args.pool, "game": args.game,
                    "game_options": {"view": args.view} if args.game == "tictactoe" else {}}],
        "advantages": {"estimator": "grpo"},
        "loss": {"clip_low": 0.2, "clip_high": 0.28, "aggregation": "token_mean", "kl_coef": 0.0, "entropy_coef": 0.0},
        "optim": {"learning_rate": args.lr, "micro_batch_size": args.prompts * args.group, "grad_clip": 1.0,
                  "epochs": 1, "minibatches": 1},
        "checkpoint": {"every": 10**9},
        "metrics": {"samples_per_step": 0},
    }
    trainer = Trainer(load_config(data=data), show_progress=False)
    trainer.save = lambda: None  # no checkpoints on either side (TRL: save_strategy="no")
    return trainer


def sparring_step(trainer) -> tuple[float, dict]:
    trainer.cfg.run.steps = trainer.step + 1
    t0 = time.perf_counter()
    stats = trainer.train()
    return time.perf_counter() - t0, stats


# ----- TRL's side -------------------------------------------------------------------------------
def trl_trainer(model_path: str, task: GameTask, args, out_dir: str, callback):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        output_dir=out_dir, use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[],
        save_strategy="no", disable_tqdm=True, logging_steps=1, dataloader_num_workers=0, seed=args.seed,
        max_steps=args.repeats + 1, per_device_train_batch_size=args.prompts * args.group,
        gradient_accumulation_steps=1, num_generations=args.group, max_completion_length=args.max_tokens,
        temperature=args.temperature, top_p=1.0, top_k=0, learning_rate=args.lr, lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, beta=0.0, epsilon=0.2, epsilon_high=0.28,
        loss_type="dapo", scale_rewards="group", num_iterations=1, mask_truncated_completions=False,
    )
    model = load_model(model_path, "float32", device="cpu")
    trainer = GRPOTrainer(model=model, processing_class=load_tokenizer(model_path), reward_funcs=task.reward,
                          train_dataset=task.dataset(args.pool), args=config, callbacks=[callback])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    generate_and_score = trainer._generate_and_score_completions

    def timed(inputs):  # TRL's rollout share of a step: generation, reward, advantages
        t0 = time.perf_counter()
        out = generate_and_score(inputs)
        callback.rollout_times.append(time.perf_counter() - t0)
        callback.sequences.append(len(inputs))
        return out

    trainer._generate_and_score_completions = timed
    return trainer, config


def trl_callback(on_step):
    from transformers import TrainerCallback

    class Alternate(TrainerCallback):
        """Times TRL's steps; after each, hands the machine to one sparring step."""

        def __init__(self) -> None:
            self.times: list[float] = []
            self.rollout_times: list[float] = []
            self.sequences: list[int] = []
            self.logs: list[dict] = []
            self._t0 = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t0)
            on_step()

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.logs.append(dict(logs))

    return Alternate()


# ----- the run ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help="'tiny' (the default tiny spec, built offline) or a model dir")
    p.add_argument("--game", default="tictactoe")
    p.add_argument("--view", default="compact", help="tictactoe's observation view")
    p.add_argument("--prompts", type=int, default=8, help="prompts (positions) per step")
    p.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO group size)")
    p.add_argument("--max-tokens", type=int, default=32, help="completion length cap")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--repeats", type=int, default=15, help="timed steps per side (after one warm-up step each)")
    p.add_argument("--pool", type=int, default=256, help="positions in the shared prompt pool")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both sides (one process); 1 keeps a shared 2-core machine's noise low")
    p.add_argument("--smoke", action="store_true", help="toy size (a 2-layer width-64 model, 2x2 batch, 4 tokens)")
    args = p.parse_args(argv)
    spec = {}
    if args.smoke:
        args.prompts, args.group, args.max_tokens, args.repeats, args.pool = 2, 2, 4, 2, 8
        spec = SMOKE_SPEC
    _quiet_libraries()
    warnings.filterwarnings("ignore")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = resolve(args.model, TinySpec(**spec) if args.model == "tiny" else None)
    tok = load_tokenizer(model_path)
    game_options = {"view": args.view} if args.game == "tictactoe" else {}
    task = GameTask(args.game, game_options=game_options, tokenizer=tok)
    params = sum(p.numel() for p in load_model(model_path, device="cpu").parameters())

    with tempfile.TemporaryDirectory() as tmp:
        spar = sparring_trainer(model_path, args, str(Path(tmp) / "sparring"))
        role = spar.arenas[0].task.role
        row = task.rows(1)[0]
        same_prompt = (tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False)
                       == role.prompt_ids(tok, spar.arenas[0].task.position(row["seed"]).observation(row["player"])))
        spar_times: list[float] = []
        spar_stats: list[dict] = []

        def one_sparring_step() -> None:
            seconds, stats = sparring_step(spar)
            spar_times.append(seconds)
            spar_stats.append(stats)

        callback = trl_callback(one_sparring_step)
        trl, config = trl_trainer(model_path, task, args, str(Path(tmp) / "trl"), callback)

        sequences = args.prompts * args.group
        print(f"model: {model_path} ({params / 1e6:.2f}M parameters, float32, CPU, torch threads {torch.get_num_threads()})")
        print(f"task: {args.game} {game_options} positions (random opening 0..{task.max_opening} moves), one move each; "
              f"reward: GameTask (return after the move, {task.playouts} random play-outs, invalid {task.invalid_penalty})")
        print(f"both: {args.prompts} prompts x {args.group} completions = {sequences} sequences per step, "
              f"max {args.max_tokens} new tokens, temperature {args.temperature}, top_p 1, top_k off, HF generate, "
              f"GRPO group-normalised advantages, clip 0.2/0.28, token-mean loss, no KL, lr {args.lr} constant, "
              f"grad clip 1.0, 1 micro-batch of {sequences}, 1 optimizer step, {args.repeats} timed steps + 1 warm-up each")
        print(f"sparring: engine hf (max_batch_size 1024), optim.micro_batch_size {sequences}, minibatches 1, epochs 1, "
              f"estimator grpo, AdamW")
        print(f"trl {_version('trl')}: GRPOTrainer, use_vllm False, per_device_train_batch_size "
              f"{config.per_device_train_batch_size}, gradient_accumulation_steps {config.gradient_accumulation_steps}, "
              f"num_generations {config.num_generations}, generation_batch_size {config.generation_batch_size}, "
              f"loss_type {config.loss_type}, scale_rewards {config.scale_rewards}, beta {config.beta}, "
              f"optim {config.optim}")
        print(f"same prompt tokens on both sides: {same_prompt}")
        print("still differs: sparring's old log-probs are recorded during generation (a log-softmax per decode step), "
              "TRL takes them from the training forward (ratio 1, no extra pass); GRPO std eps 1e-6 (sparring) vs 1e-4 "
              "(TRL); log-probs and entropy in the update: sparring's chunked log-softmax vs transformers' fused LM "
              "head (TRL); AdamW: torch's default (sparring) vs fused (TRL); sparring's update runs each distinct "
              "prompt once per micro-batch (its KV cache shared by the group's completions; same numbers), TRL runs "
              "every prompt + completion row in full; sparring merges identical (prompt, "
              "completion) rows and caches prompt tokens, TRL re-applies the chat template every step; TRL shuffles "
              "the position pool, sparring walks it in order; timing windows as in the docstring (TRL's excludes "
              "its dataloader fetch and logging)")
        trl.train()
        spar.close()

    trl_logs = callback.logs
    spar_med = statistics.median(spar_times[1:])
    trl_med = statistics.median(callback.times[1:])
    spar_tokens = [s.get("rollout/completion_tokens_mean", 0.0) for s in spar_stats[1:]]
    trl_tokens = [float(log.get("completions/mean_length", 0.0)) for log in trl_logs[1:]]
    spar_seq = [s.get("rollout/turns", 0.0) for s in spar_stats[1:]]
    print(f"work per timed step: sparring {statistics.mean(spar_seq):.0f} sequences, "
          f"{statistics.mean(spar_tokens):.1f} completion tokens each; "
          f"TRL {statistics.mean(callback.sequences[1:]):.0f} sequences, "
          f"{statistics.mean(trl_tokens) if trl_tokens else float('nan'):.1f} completion tokens each")
    print(f"sparring step times (s): {' '.join(f'{t:.3f}' for t in spar_times)} (first is warm-up); "
          f"rollout {statistics.median(s['perf/rollout_s'] for s in spar_stats[1:]):.3f} s, "
          f"update {statistics.median(s['perf/update_s'] for s in spar_stats[1:]):.3f} s (medians)")
    trl_rollout = statistics.median(callback.rollout_times[1:])
    trl_rest = statistics.median(t - r for t, r in zip(callback.times[1:], callback.rollout_times[1:]))
    print(f"trl step times (s):      {' '.join(f'{t:.3f}' for t in callback.times)} (first is warm-up); "
          f"rollout {trl_rollout:.3f} s, rest (update) {trl_rest:.3f} s (medians)")
    paired = statistics.median(t / s for t, s in zip(callback.times[1:], spar_times[1:]))
    print(f"median step time: sparring {spar_med:.3f} s, trl {trl_med:.3f} s; "
          f"fastest: sparring {min(spar_times[1:]):.3f} s, "
          f"trl {min(callback.times[1:]):.3f} s; median of paired (adjacent steps) ratios {paired:.2f}")
    speed = trl_med / spar_med
    print(f"sparring_over_trl_step_speed={speed:.2f}")
    return speed


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
