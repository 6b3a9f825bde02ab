"""Format warm start: a short supervised stage (TRL's SFTTrainer) on transcripts of random play.

A freshly initialised tiny model cannot yet write a legal move. This stage teaches the answer
format only: the targets are uniformly random legal actions, so it carries no strategy. With
`keep="winners"` only the eventual winner's moves of each random game are kept: the game's own
outcome filters the targets (still no scripted strategy). Prompts are built by the same roles
the arena uses, so the SFT prompt tokens equal the rollout ones.
"""

from __future__ import annotations

import logging
import random
import tempfile

from sparring.agents.roles import Role
from sparring.environments import make

log = logging.getLogger(__name__)

WARM_START_KEEP = ("all", "winners")


def transcripts(arenas: list[tuple[str, dict, list[Role]]], examples: int, seed: int, keep: str = "all") -> list[dict]:
    """Prompt/completion pairs from random legal play, spread evenly over the arenas' games.

    keep="all" takes every move (format only). keep="winners" takes only the moves of the player
    whose payoff ended strictly highest, i.e. behaviour cloning of the random games each player
    won: the targets are still random legal moves, but filtered by the game's own outcome (the
    move that completed a win is always among them), so the stage carries a reward signal from
    the rules and no scripted strategy. Drawn games contribute nothing.
    """
    if keep not in WARM_START_KEEP:
        raise ValueError(f"warm_start.keep must be one of {WARM_START_KEEP}, got {keep!r}")
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
            moves: list[tuple[int, dict]] = []
            while not game.done and (keep == "winners" or count + len(moves) < per_arena):
                player = game.current_player
                role = roles[player]
                obs = game.observation(player)
                action = game.sample_action(rng)  # rng.choice(legal), or the rules' own sampler for free text
                moves.append((player, {
                    "prompt": role.messages(obs),
                    "completion": [{"role": "assistant", "content": role.format_action(action)}],
                }))
                game.step(action)
            winners = _winners(game) if keep == "winners" else {p for p, _ in moves}
            kept = [row for player, row in moves if player in winners]
            kept = kept[: per_arena - count]
            rows.extend(kept)
            count += len(kept)
            if count == 0 and g >= 1000:
                raise ValueError(f"warm_start.keep=winners: 1000 random games of {game_name!r} had no winner")
    return rows[:examples]


def _winners(game) -> set[int]:
    """The player with the strictly highest payoff of a finished game; nobody on a tie."""
    returns = game.returns()
    best = max(returns)
    top = [p for p, r in enumerate(returns) if r == best]
    return set(top) if len(top) == 1 and game.done else set()


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
