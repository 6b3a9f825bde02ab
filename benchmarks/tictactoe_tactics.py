"""TicTacToe tactics probe: does a model take an available win and block the opponent's open two?

Win rates against random mix openings, legality and tactics; this probe isolates the tactics.
Over every reachable position where the player to move can complete a line ("win") or must stop
the opponent's ("block", no win available), it asks the model for its greedy cell (the prompt the
arena builds, plus the opening bracket) and counts how often that cell is a correct one, next to
the rate of a uniformly random legal cell.

    python benchmarks/tictactoe_tactics.py --model runs/x/checkpoints/step_0000020 [--view compact]
    python benchmarks/tictactoe_tactics.py --supervised-steps 1500   # learnability ceiling
    python benchmarks/tictactoe_tactics.py --scripted                # what the tactics are worth
    python benchmarks/tictactoe_tactics.py --samples runs/x/samples.jsonl   # what RL's games teach

`--supervised-steps N` trains the untrained tiny model by plain cross-entropy on the correct cell
(win, else block, else a random legal cell) of random reachable positions, batch 32, and prints
the probe every 250 updates (`--report-every`): how fast the model can learn the tactics when
given the answers, an upper bound on what the reward signal of self-play can teach it in the same
number of updates. `--reinforce-steps N` trains by REINFORCE instead, on win and block positions
with an exact reward (1 iff the sampled cell is correct): how fast a policy gradient learns the
tactics when its reward carries no noise at all (`--start DIR` from a warm start, e.g. a run's
`warm_start/`, so that the sampled cells are legal). `--group K --advantage maxrl` (or grpo,
dr_grpo) samples each position K times and turns the rewards into advantages within those groups:
whether a per-position estimator (MaxRL's 1 / success rate) gets further than the batch baseline;
`--advantage batch_ipw` divides the batch baseline's positive advantages by P(sampled cell) instead.
The last line is `tictactoe_tactic_accuracy=...` (win and block positions together).

`--scripted` plays scripted players against uniform random (`--games` per seat) and prints their
seat-averaged win+draw and win rates: what taking wins, blocking and the centre are worth, and so
how good the tactics must be for a win+draw target (the model's probe accuracy is comparable to
the `opening + tactics (q)` rows, whose accuracy is q + (1 - q) x the random-move rate). The last
row, the cell with the best odds of winning random play from there, is what
`warm_start.keep: winners` converges to.

`--samples FILE` reads a run's samples.jsonl (whole games, `logging.samples_per_step` per step),
replays each game and, per window of `--window` steps, prints how often the trained turns took an
available win or made a needed block, with the mean advantage those turns got against the turns
that missed: whether the tactics are learned in the model's own games, and whether the advantage
credits them (docs/experiments.md, TicTacToe by RL).
"""

from __future__ import annotations

import argparse
import functools
import json
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
from sparring.training.advantages import Estimator  # noqa: E402
from sparring.types import SamplingParams  # noqa: E402


def completing(board: list, player: int) -> set[int]:
    """Free cells that would complete a line of `player`'s marks."""
    out = set()
    for line in LINES:
        marks = [board[i] for i in line]
        if marks.count(player) == 2 and marks.count(None) == 1:
            out.add(line[marks.index(None)])
    return out


def reachable_positions(view: str = "board") -> list:
    """Every non-terminal position reachable from the start, once each (observed in `view`)."""
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

    start = make("tictactoe", view=view)
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


def train_probe(probe: Probe, positions: list, steps: int, lr: float, batch: int, seed: int, every: int = 250,
                reinforce: bool = False, start: str | None = None, group: int = 1, advantage: str = "batch") -> None:
    """Train on the tactics and print the probe every `every` updates. Supervised: cross-entropy on
    a correct cell (win, else block, else a random legal cell) of random reachable positions.
    `reinforce`: REINFORCE on random win and block positions, the model's own sampled cell
    rewarded 1 if it is a correct one, else 0, minus the batch mean: a policy gradient with an
    exact, noise-free reward, the best signal any game's outcome could give those moves.
    `group` > 1 samples each drawn position that many times (batch / group positions) and
    `advantage` names how the rewards become advantages: "batch" (minus the batch mean) or a
    group estimator of the registry over the positions' groups (grpo, dr_grpo, maxrl)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = load_model(start or str(build_tiny()))
    model.train()
    drawn = [g for g in positions if kind_and_answers(g)[0] != "other"] if reinforce else positions
    digit = {str(i): probe.tok.convert_tokens_to_ids(str(i)) for i in range(9)}
    cell_of = {token: int(cell) for cell, token in digit.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    estimator = None if advantage in ("batch", "batch_ipw") else Estimator(advantage)
    groups = [i // group for i in range(batch // group * group)]
    t0 = time.perf_counter()
    acc, _ = tactic_accuracy(probe.table(model, positions))
    print(f"update     0  tactic accuracy {acc:.3f}", flush=True)
    for step in range(1, steps + 1):
        games = [g for g in (rng.choice(drawn) for _ in range(batch // group)) for _ in range(group)]
        enc = probe.tok([probe.prompt(g) for g in games], return_tensors="pt", padding=True, add_special_tokens=False)
        logits = model(**enc, logits_to_keep=1).logits[:, -1]
        if reinforce:
            logp = torch.log_softmax(logits, -1)
            cells = torch.multinomial(logp.exp(), 1).squeeze(-1)
            reward = torch.tensor([float(cell_of.get(c, -1) in kind_and_answers(g)[1])
                                   for c, g in zip(cells.tolist(), games)])
            taken = logp.gather(1, cells[:, None]).squeeze(-1)
            if estimator is not None:
                adv = estimator(reward, groups=groups)
            else:
                adv = reward - reward.mean()
                if advantage == "batch_ipw":  # positive advantages / P(sampled cell), at most x10
                    adv = torch.where(adv > 0, adv / taken.detach().exp().clamp(min=0.1), adv)
            loss = -(adv * taken).mean()
        else:
            targets = []
            for g in games:
                _, answers = kind_and_answers(g)
                targets.append(digit[str(rng.choice(sorted(answers)))] if answers else digit[rng.choice(g.legal_actions())])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % every == 0 or step == steps:
            acc, rand = tactic_accuracy(probe.table(model, positions))
            print(f"update {step:>5}  tactic accuracy {acc:.3f} (random move {rand:.3f})  "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print_table(probe.table(model, positions))
    print(f"tictactoe_tactic_accuracy={acc:.3f}")


@functools.lru_cache(maxsize=None)
def random_play_odds(board: tuple) -> tuple[float, float]:
    """(P(X wins), P(O wins)) from `board` (cells None/0/1) when both sides play uniformly at random."""
    for a, b, c in LINES:
        if board[a] is not None and board[a] == board[b] == board[c]:
            return (1.0, 0.0) if board[a] == 0 else (0.0, 1.0)
    free = [i for i, cell in enumerate(board) if cell is None]
    if not free:
        return 0.0, 0.0
    mover = (9 - len(free)) % 2
    odds = [random_play_odds(board[:i] + (mover,) + board[i + 1 :]) for i in free]
    return sum(o[0] for o in odds) / len(free), sum(o[1] for o in odds) / len(free)


def random_odds_move(game) -> str:
    """The cell after which the mover's chance of winning random play from there is highest: the
    greedy policy that `warm_start.keep: winners` converges to (its targets are distributed as
    uniform x P(win | position, cell) under random play)."""
    me, board = game.current_player, tuple(game.board)
    return max(game.legal_actions(), key=lambda a: random_play_odds(board[: int(a)] + (me,) + board[int(a) + 1 :])[me])


def scripted_move(game, rng: random.Random, *, win: float = 0.0, block: float = 0.0, centre: str = "",
                  random_odds: bool = False) -> str:
    """A scripted cell: take a win with probability `win`; where no win is on, block with
    probability `block` (the probe's two position kinds); then the centre rule; else a random cell.

    centre="free": the centre whenever it is free; centre="opening": the first own move takes the
    centre if it is free, else a corner.
    """
    if random_odds:
        return random_odds_move(game)
    me, board, legal = game.current_player, game.board, game.legal_actions()
    wins, blocks = completing(board, me), completing(board, 1 - me)
    if wins and rng.random() < win:
        return str(rng.choice(sorted(wins)))
    if blocks and not wins and rng.random() < block:
        return str(rng.choice(sorted(blocks)))
    first_move = len(legal) >= 8
    if board[4] is None and (centre == "free" or (centre == "opening" and first_move)):
        return "4"
    if centre == "opening" and first_move:
        return str(rng.choice([0, 2, 6, 8]))
    return rng.choice(legal)


SCRIPTED = {  # name -> scripted_move settings
    "random": {},
    "centre when free": {"centre": "free"},
    "take win": {"win": 1.0},
    "take win + centre": {"win": 1.0, "centre": "free"},
    "block": {"block": 1.0},
    "take win + block": {"win": 1.0, "block": 1.0},
    **{f"opening + tactics (q={q})": {"win": q, "block": q, "centre": "opening"} for q in (0.3, 0.5, 0.7)},
    "best random-play win odds": {"random_odds": True},
}


def scripted_references(games: int, seed: int) -> None:
    rng = random.Random(seed)
    game = make("tictactoe")
    print(f"{'scripted player vs random':<30}{'win+draw':>9}{'win':>8}   ({games} games per seat, seat-averaged)")
    for name, settings in SCRIPTED.items():
        win_or_draw = wins = 0
        for seat in (0, 1):
            for _ in range(games):
                game.reset(seed=rng.getrandbits(32))
                while not game.done:
                    mine = game.current_player == seat
                    game.step(scripted_move(game, rng, **settings) if mine else rng.choice(game.legal_actions()))
                payoff = game.outcome()[seat]
                win_or_draw += payoff >= 0
                wins += payoff > 0
        print(f"{name:<30}{win_or_draw / (2 * games):>9.3f}{wins / (2 * games):>8.3f}")


def replay_samples(path: Path) -> list[tuple[int, str, bool, float]]:
    """(step, kind, correct, advantage) of every trained valid move at a win or block position in
    the samples file, its board rebuilt by replaying each game's actions."""
    games: dict[tuple[int, str], list[dict]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["role"].startswith("tictactoe/"):
            games.setdefault((row["step"], row["episode"]), []).append(row)
    out = []
    for (step, _), turns in games.items():
        game = make("tictactoe")
        game.reset(seed=0)
        for t in sorted(turns, key=lambda r: r["turn"]):
            if t["invalid"] or t["action"] is None or game.done:
                continue
            kind, answers = kind_and_answers(game)
            if t["trained"] and t["advantage"] is not None and kind != "other":
                out.append((step, kind, int(t["action"]) in answers, t["advantage"]))
            game.step(t["action"])
    return out


def print_samples(moves: list[tuple[int, str, bool, float]], window: int) -> None:
    print(f"{'steps':<10}{'kind':<7}{'moves':>7}{'correct':>9}{'adv if correct':>16}{'adv if missed':>15}")
    rows: dict[tuple[int, str], list] = {}
    for step, kind, correct, adv in moves:
        rows.setdefault(((step - 1) // window, kind), []).append((correct, adv))
    for (w, kind), got in sorted(rows.items()):
        hit = [a for c, a in got if c]
        miss = [a for c, a in got if not c]
        mean = lambda xs: f"{sum(xs) / len(xs):+.3f}" if xs else "-"  # noqa: E731
        print(f"{f'{w * window + 1}-{(w + 1) * window}':<10}{kind:<7}{len(got):>7}{len(hit) / len(got):>9.3f}"
              f"{mean(hit):>16}{mean(miss):>15}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model or checkpoint directory to probe")
    p.add_argument("--supervised-steps", type=int, default=0, help="train the untrained tiny model on the answers")
    p.add_argument("--reinforce-steps", type=int, default=0, help="REINFORCE with the exact tactic reward instead")
    p.add_argument("--start", help="start --supervised/--reinforce-steps from this model (default: the untrained tiny)")
    p.add_argument("--group", type=int, default=1, help="--reinforce-steps: samples per drawn position")
    p.add_argument("--advantage", default="batch", choices=["batch", "batch_ipw", "grpo", "dr_grpo", "maxrl"],
                   help="--reinforce-steps: batch-mean baseline, or a group estimator over --group samples")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--report-every", type=int, default=250, help="updates between probe reports")
    p.add_argument("--scripted", action="store_true", help="scripted players against random instead")
    p.add_argument("--games", type=int, default=20_000, help="games per seat for --scripted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--view", default="board", help="the game's observation view (the run's game_options.view)")
    p.add_argument("--samples", type=Path, help="a run's samples.jsonl: tactics in the model's own games")
    p.add_argument("--window", type=int, default=20, help="steps per row for --samples")
    args = p.parse_args()
    if sum([bool(args.model), bool(args.supervised_steps), bool(args.reinforce_steps), args.scripted,
            bool(args.samples)]) != 1:
        p.error("give exactly one of --model, --supervised-steps, --reinforce-steps, --scripted and --samples")
    if args.samples:
        print_samples(replay_samples(args.samples), args.window)
        return
    if args.scripted:
        scripted_references(args.games, args.seed)
        return
    _quiet_libraries()
    positions = reachable_positions(args.view)
    if args.supervised_steps or args.reinforce_steps:
        probe = Probe(load_tokenizer(args.start or str(build_tiny())))
        train_probe(probe, positions, args.supervised_steps or args.reinforce_steps, args.lr, args.batch, args.seed,
                    args.report_every, reinforce=bool(args.reinforce_steps), start=args.start, group=args.group,
                    advantage=args.advantage)
        return
    probe = Probe(load_tokenizer(args.model))
    table = probe.table(load_model(args.model), positions)
    print_table(table)
    acc, rand = tactic_accuracy(table)
    print(f"random legal move: {rand:.3f}")
    print(f"tictactoe_tactic_accuracy={acc:.3f}")


if __name__ == "__main__":
    main()
