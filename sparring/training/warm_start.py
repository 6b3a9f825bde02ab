"""Format warm start: a short supervised stage (TRL's SFTTrainer) on transcripts of random play.

A freshly initialised tiny model cannot yet write a legal move. This stage teaches the answer
format only: the targets are uniformly random legal actions, so it carries no strategy. Prompts
are built by the same roles the arena uses, so the SFT prompt tokens equal the rollout ones.
"""

from __future__ import annotations

import logging
import random
import tempfile

from sparring.agents.roles import Role
from sparring.environments import make

log = logging.getLogger(__name__)


def transcripts(arenas: list[tuple[str, dict, list[Role]]], examples: int, seed: int) -> list[dict]:
    """Prompt/completion pairs from random legal play, spread evenly over the arenas' games."""
    rows: list[dict] = []
    per_arena = -(-examples // len(arenas))
    for a, (game_name, options, roles) in enumerate(arenas):
        rng = random.Random(seed * 7919 + a)
        g = 0
        count = 0
        while count < per_arena:
            game = make(game_name, **options)
            game.reset(seed=seed * 1_000_003 + a * 100_003 + g)
            g += 1
            while not game.done and count < per_arena:
                player = game.current_player
                role = roles[player]
                obs = game.observation(player)
                action = game.sample_action(rng)  # rng.choice(legal), or the rules' own sampler for free text
                rows.append({
                    "prompt": role.messages(obs),
                    "completion": [{"role": "assistant", "content": role.format_action(action)}],
                })
                game.step(action)
                count += 1
    return rows[:examples]


def run_sft(model, tokenizer, rows: list[dict], *, epochs: float, learning_rate: float, batch_size: int, seed: int) -> dict:
    """Fine-tune `model` in place on prompt/completion rows (loss on the completion only)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    with tempfile.TemporaryDirectory(prefix="sparring-sft-") as out:
        args = SFTConfig(
            output_dir=out,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=10,
            logging_strategy="no",  # the result carries the loss; no per-step prints
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=seed,
            completion_only_loss=True,
            disable_tqdm=True,
            dataloader_num_workers=0,
            gradient_checkpointing=False,
            bf16=False,  # CPU autocast to bf16 is ~10x slower here than float32
            fp16=False,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)  # it prints a dict to stdout at the end
        result = trainer.train()
    return {"warm_start/loss": float(result.training_loss), "warm_start/examples": float(len(rows))}
