"""TicTacToe tactics probe: does a model take an available win and block the opponent's open two?

Win rates against random mix openings, legality and tactics; this probe isolates the tactics.
Over every reachable position where the player to move can complete a line ("win") or must stop
the opponent's ("block", no win available), it asks the model for its greedy cell (the prompt the
arena builds, plus the opening bracket) and counts how often that cell is a correct one, next to
the rate of a uniformly random legal cell.

    python benchmarks/tictactoe_tactics.py --model runs/x/checkpoints/step_0000020
    python benchmarks/tictactoe_tactics.py --supervised-steps 1500   # learnability ceiling

`--supervised-steps N` trains the untrained tiny model by plain cross-entropy on the correct cell
(win, else block, else a random legal cell) of random reachable positions, batch 32, and prints
the probe every 250 updates: how fast the model can learn the tactics when given the answers,
an upper bound on what the reward signal of self-play can teach it in the same number of updates.
The last line is `tictactoe_tactic_accuracy=...` (win and block positions together).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.agents.models import build_tiny, load_model, load_tokenizer  # noqa: E402
from sparring.agents.roles import seat_roles  # noqa: E402
from sparring.cli import _quiet_libraries  # noqa: E402
from sparring.environments import make  # noqa: E402
from sparring.environments.tictactoe import LINES  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402


def completing(board: list, player: int) -> set[int]:
    """Free cells that would complete a line of `player`'s marks."""
    out = set()
    for line in LINES:
        marks = [board[i] for i in line]
        if marks.count(player) == 2 and marks.count(None) == 1:
            out.add(line[marks.index(None)])
    return out


def reachable_positions() -> list:
    """Every non-terminal position reachable from the start, once each."""
    seen: dict[tuple, object] = {}

    def visit(game) -> None:
        key = tuple(game.board)
        if game.done or key in seen:
            return
        seen[key] = game
        for action in game.legal_actions():
            child = game.clone()
            child.step(action)
            visit(child)

    start = make("tictactoe")
    start.reset(seed=0)
    visit(start)
    return list(seen.values())


def kind_and_answers(game) -> tuple[str, set[int]]:
    me = game.current_player
    wins, blocks = completing(game.board, me), completing(game.board, 1 - me)
    return ("win", wins) if wins else ("block", blocks) if blocks else ("other", set())


class Probe:
    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer
        self.tok.padding_side = "left"
        self.roles = seat_roles("tictactoe", 2, SamplingParams(4))

    def prompt(self, game) -> str:
        player = game.current_player
        messages = self.roles[player].messages(game.observation(player))
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "["

    @torch.no_grad()
    def greedy_cells(self, model, games: list) -> list[str]:
        out = []
        for i in range(0, len(games), 256):
            chunk = games[i:i + 256]
            enc = self.tok([self.prompt(g) for g in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            ids = model(**enc, logits_to_keep=1).logits[:, -1].argmax(-1).tolist()
            out += [self.tok.decode([t]).strip() for t in ids]
        return out

    def table(self, model, positions: list) -> dict[tuple[str, str], tuple[int, float, float, float]]:
        """(kind, mark) -> (positions, legal rate, correct rate, random-move correct rate)."""
        was_training = model.training
        model.eval()
        cells = self.greedy_cells(model, positions)
        model.train(was_training)
        rows: dict[tuple[str, str], list[float]] = {}
        for game, cell in zip(positions, cells):
            kind, answers = kind_and_answers(game)
            legal = game.legal_actions()
            r = rows.setdefault((kind, "XO"[game.current_player]), [0, 0, 0, 0.0])
            r[0] += 1
            r[1] += cell in legal
            r[2] += cell in {str(c) for c in answers}
            r[3] += len(answers) / len(legal)
        return {k: (n, legal / n, good / n, rand / n) for k, (n, legal, good, rand) in sorted(rows.items())}


def tactic_accuracy(table) -> tuple[float, float]:
    """Correct and random-move rates over win and block positions together."""
    rows = [v for (kind, _), v in table.items() if kind != "other"]
    n = sum(r[0] for r in rows)
    return sum(r[0] * r[2] for r in rows) / n, sum(r[0] * r[3] for r in rows) / n


def print_table(table) -> None:
    print(f"{'position':<10}{'mark':>5}{'count':>7}{'legal':>8}{'correct':>9}{'random':>8}")
    for (kind, mark), (n, legal, good, rand) in table.items():
        shown = (f"{good:>9.3f}{rand:>8.3f}") if kind != "other" else f"{'':>9}{'':>8}"
        print(f"{kind:<10}{mark:>5}{n:>7}{legal:>8.3f}{shown}")


def supervised(probe: Probe, positions: list, steps: int, lr: float, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = load_model(str(build_tiny()))
    model.train()
    digit = {str(i): probe.tok.convert_tokens_to_ids(str(i)) for i in range(9)}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        games = [rng.choice(positions) for _ in range(batch)]
        targets = []
        for g in games:
            _, answers = kind_and_answers(g)
            targets.append(digit[str(rng.choice(sorted(answers)))] if answers else digit[rng.choice(g.legal_actions())])
        enc = probe.tok([probe.prompt(g) for g in games], return_tensors="pt", padding=True, add_special_tokens=False)
        loss = torch.nn.functional.cross_entropy(model(**enc, logits_to_keep=1).logits[:, -1], torch.tensor(targets))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == steps:
            acc, rand = tactic_accuracy(probe.table(model, positions))
            print(f"update {step:>5}  tactic accuracy {acc:.3f} (random move {rand:.3f})  "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print_table(probe.table(model, positions))
    print(f"tictactoe_tactic_accuracy={acc:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model or checkpoint directory to probe")
    p.add_argument("--supervised-steps", type=int, default=0, help="train the untrained tiny model on the answers")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if bool(args.model) == bool(args.supervised_steps):
        p.error("give exactly one of --model and --supervised-steps")
    _quiet_libraries()
    positions = reachable_positions()
    if args.supervised_steps:
        supervised(Probe(load_tokenizer(str(build_tiny()))), positions, args.supervised_steps, args.lr, args.batch, args.seed)
        return
    probe = Probe(load_tokenizer(args.model))
    table = probe.table(load_model(args.model), positions)
    print_table(table)
    acc, rand = tactic_accuracy(table)
    print(f"random legal move: {rand:.3f}")
    print(f"tictactoe_tactic_accuracy={acc:.3f}")


if __name__ == "__main__":
    main()
