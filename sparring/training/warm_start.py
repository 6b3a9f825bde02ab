"""Warm start: a short supervised stage (TRL's SFTTrainer) on rows the arenas supply.

For games, a freshly initialised tiny model cannot yet write a legal move. The format warm start
(`transcripts`) teaches the answer format only: the targets are uniformly random legal actions,
so it carries no strategy. With `keep="winners"` only the eventual winner's moves of each random
game are kept: the game's own outcome filters the targets (still no scripted strategy).

Search labels (`warm_start.search`, `_best_moves`) are a different thing: supervised learning
from Monte-Carlo search (expert iteration), not a format warm start. Each position is labelled
with the move whose random games ended best for the mover, over the games that passed through it,
or (`rollouts`) over simulated random continuations after each legal move: one step of policy
improvement over uniform random play, learned offline (a signal from the rules, no scripted
strategy, no search at play time); with `play="best"` the games that pick the positions let one
seat follow those labels, so the rows are the positions the improved player meets. What a model
reaches after it is a supervised result and is reported as such.

Prompts are built by the same roles the arena uses, so the SFT prompt tokens equal the rollout ones.
"""

from __future__ import annotations

import logging
import random
import tempfile

from sparring.agents.roles import Role
from sparring.config import SearchLabelConfig
from sparring.environments import make

log = logging.getLogger(__name__)


def transcripts(arenas: list[tuple[str, dict, list[Role]]], examples: int, seed: int, keep: str = "all",
                search: SearchLabelConfig | None = None, first_index: int = 0) -> list[dict]:
    """Prompt/completion pairs from random legal play, spread evenly over the arenas' games
    (`first_index`: the first arena's position in the run, which seeds its games).

    keep="all" takes every move (format only). keep="winners" takes only the moves of the player
    whose payoff ended strictly highest, i.e. behaviour cloning of the random games each player
    won: the targets are still random legal moves, but filtered by the game's own outcome (the
    move that completed a win is always among them), so the stage carries a reward signal from
    the rules and no scripted strategy. Drawn games contribute nothing. With `search`, every
    move is labelled by Monte-Carlo search instead: see `_best_moves`.
    """
    if keep not in ("all", "winners"):
        raise ValueError(f"keep must be 'all' or 'winners', got {keep!r}")
    per_arena = -(-examples // len(arenas))
    if search is not None:
        scored = max(search.games // len(arenas), per_arena) if search.games else 4 * per_arena
        return [row for a, arena in enumerate(arenas, first_index)
                for row in _best_moves(*arena, per_arena, scored, seed * 7919 + a, search.rollouts, search.unique,
                                       search.play)][:examples]
    rows: list[dict] = []
    for a, (game_name, options, roles) in enumerate(arenas, first_index):
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
                action = game.sample_action(rng)  # rng.choice(legal), or the rules' own sampler for free text
                moves.append((player, _row(roles[player], game.observation(player), action, game.private_note(player))))
                game.step(action)
            winners = _winners(game) if keep == "winners" else {p for p, _ in moves}
            kept = [row for player, row in moves if player in winners]
            kept = kept[: per_arena - count]
            rows.extend(kept)
            count += len(kept)
            if count == 0 and g >= 1000:
                raise ValueError(f"warm_start.keep=winners: 1000 random games of {game_name!r} had no winner")
    return rows[:examples]


def _best_moves(game_name: str, options: dict, roles: list[Role], examples: int, games: int, seed: int,
                rollouts: int = 0, unique: bool = False, play: str = "random") -> list[dict]:
    """Monte-Carlo policy improvement over random play: `games` uniformly random games; every
    (position, move) is scored by the mover's mean payoff over the games that made that move from
    that position; then the positions, in the order and number random play visits them, become
    rows whose target is the best-scoring move tried there (ties: the first tried). Positions
    seen once keep their random move, so rare positions teach the format only.

    With `rollouts` > 0 the random games only choose the positions (as many games as `examples`
    visits take); each position's moves are scored by simulation instead, `rollouts` random
    continuations after every candidate move (see `_simulate`). Rare positions, most of the
    deep ones where a line is won or must be blocked, then get a real score rather than the one
    game that passed through them.

    `unique` keeps each distinct position once (in order of first visit): random play visits the
    opening positions thousands of times and most tactical ones once, so the rows would otherwise
    spend most of the SFT updates on the few positions that matter least.

    `play="best"` (with rollouts): in each game one seat, in turn, plays the best-scored move of
    every position it meets, the others stay uniformly random. The rows are then the positions a
    player who has learned the labels reaches against random play (and those its opponents
    face), the states of the improved policy rather than of random play: a few hundred in
    TicTacToe instead of thousands, so the SFT can learn every one of them. With hidden
    information the seat chooses from earlier visits' scores only (a random move on the first):
    this visit's continuations know the current deal, and acting on them would be cheating."""
    rng = random.Random(seed)
    simulation_rng = random.Random(seed + 1)  # rollouts leave the visited positions unchanged
    visits: list[tuple[int, str]] = []  # (player, observation), in play order
    notes: dict[tuple[int, str], str | None] = {}  # (player, observation) -> the player's private note
    stats: dict[tuple[int, str], dict[str, list[float]]] = {}
    g = 0
    while len(visits) < examples if rollouts else g < games:
        game = make(game_name, **options)
        game.reset(seed=seed * 1_000_003 + g)
        improved = g % game.num_players if play == "best" else None  # the seat that plays the labels
        hidden = improved is not None and any(game.private_info(p) is not None for p in range(game.num_players))
        g += 1
        moves = []
        while not game.done:
            player = game.current_player
            state = (player, game.observation(player))
            notes.setdefault(state, game.private_note(player))
            action = None
            if player == improved and hidden and stats.get(state):
                action = _best(stats[state])  # before this visit's continuations, which see the deal
            if rollouts and len(visits) < examples:
                _simulate(game, stats.setdefault(state, {}), rollouts, simulation_rng)
                visits.append(state)
            if player == improved and not hidden and state in stats:
                action = _best(stats[state])
            if action is None:
                action = game.sample_action(rng)
            moves.append((state, action))
            game.step(action)
        if rollouts:
            continue
        returns = game.returns()
        for state, action in moves:
            total = stats.setdefault(state, {}).setdefault(action, [0.0, 0.0])
            total[0] += returns[state[0]]
            total[1] += 1.0
            if len(visits) < examples:
                visits.append(state)
    rows = []
    for player, observation in dict.fromkeys(visits) if unique else visits:
        state = (player, observation)
        rows.append(_row(roles[player], observation, _best(stats[state]), notes[state]))
    return rows


def _best(scored: dict[str, list[float]]) -> str:
    """The move with the highest mean payoff (move -> [sum, count]); the first tried of equals."""
    return max(scored, key=lambda a: scored[a][0] / scored[a][1])


FREE_TEXT_CANDIDATES = 8  # random actions scored per position of a free-text game


def _simulate(game, scored: dict[str, list[float]], rollouts: int, rng: random.Random) -> None:
    """Add random-continuation payoffs for the mover to `scored` (move -> [sum, count]) until each
    candidate move has `rollouts` of them. The candidates are the legal moves (a free-text game:
    a few random ones). With hidden information a copy of the game knows every player's secrets,
    so each visit adds one continuation per move and a position's score averages over the deals
    that reached it; with none, the first visit runs them all."""
    player = game.current_player
    legal = game.legal_actions()
    candidates = legal if legal is not None else list(dict.fromkeys(game.sample_action(rng) for _ in range(FREE_TEXT_CANDIDATES)))
    hidden = any(game.private_info(p) is not None for p in range(game.num_players))
    for action in candidates:
        total = scored.setdefault(action, [0.0, 0.0])
        for _ in range(min(1 if hidden else rollouts, rollouts - int(total[1]))):
            sim = game.clone()
            sim.rng = random.Random(rng.random())  # fresh chance, not a replay of the game's own
            sim.step(action)
            while not sim.done:
                sim.step(sim.sample_action(rng))
            total[0] += sim.returns()[player]
            total[1] += 1.0


def _row(role: Role, observation: str, action: str, note: str | None = None) -> dict:
    """One SFT example: the arena's prompt for this observation (chat messages, or plain text for
    a plain-style role), the action written in the role's answer format (after the player's
    private `note` where the role restates)."""
    if role.restate and note is None:
        raise ValueError(f"prompt.restate: role {role.name!r} restates its private information, but the game has "
                         "no private note for this position (Game.private_note returns None)")
    return role.sft_row(observation, role.format_action(action, note))


def _winners(game) -> set[int]:
    """The player with the strictly highest payoff of a finished game; nobody on a tie."""
    returns = game.returns()
    best = max(returns)
    top = [p for p, r in enumerate(returns) if r == best]
    return set(top) if len(top) == 1 and game.done else set()


def run_sft(model, tokenizer, rows: list[dict], *, epochs: float, learning_rate: float, batch_size: int, seed: int,
            bf16: bool = False) -> dict:
    """Fine-tune `model` in place on prompt/completion rows (loss on the completion only), on the
    model's device; `model` should hold float32 weights (the Trainer steps them directly), `bf16`
    adds bf16 autocast on a GPU."""
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
            use_cpu=model.device.type == "cpu",
            seed=seed,
            completion_only_loss=True,
            disable_tqdm=True,
            dataloader_num_workers=0,
            gradient_checkpointing=False,
            bf16=bf16 and model.device.type == "cuda",  # CPU autocast to bf16 is ~10x slower than float32
            fp16=False,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)  # it prints a dict to stdout at the end
        result = trainer.train()
    return {"warm_start/loss": float(result.training_loss), "warm_start/examples": float(len(rows))}
